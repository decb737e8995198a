//! `text`: string operations an LLM is unreliable at doing in its head:
//! regex find/replace/split (the `regex` crate, linear time, compiled size
//! capped), word counts, case changes and trimming. Positions are character
//! offsets (not bytes), counted from 0, end exclusive.

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value, json};

use super::{obj, object_schema, opt_bool, opt_str, opt_u64, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `text` tool.
pub struct Text;

/// Compiled-program cap for user regexes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Default and maximum number of matches `find` returns.
const DEFAULT_FIND_LIMIT: u64 = 100;
const MAX_FIND_LIMIT: u64 = 1000;

#[async_trait::async_trait]
impl Tool for Text {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "text".into(),
            description: "Exact text operations: `find` regex matches (with character positions and \
                capture groups), `replace` regex matches (replacement may use $1 or ${name}), `split` \
                by a literal separator or a regex, `word_count` (words, lines, characters), `lower`, \
                `upper`, `trim`. Regex syntax is Rust's `regex` (no look-around or backreferences)."
                .into(),
            parameters: object_schema(
                json!({
                    "operation": {
                        "type": "string",
                        "enum": ["find", "replace", "split", "word_count", "lower", "upper", "trim"],
                        "description": "What to do with `text`."
                    },
                    "text": {
                        "type": "string",
                        "maxLength": 2_000_000,
                        "description": "The input text."
                    },
                    "pattern": {
                        "type": "string",
                        "maxLength": 5000,
                        "description": "Regex for find and replace (required there), or for split instead of `separator`."
                    },
                    "replacement": {
                        "type": "string",
                        "description": "For replace: the replacement; $1, $2 or ${name} insert capture groups, $$ is a literal $."
                    },
                    "separator": {
                        "type": "string",
                        "minLength": 1,
                        "description": "For split: a literal separator (e.g. \",\" or \"\\n\")."
                    },
                    "case_insensitive": {
                        "type": "boolean",
                        "description": "Match the regex ignoring case (default false)."
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "find: at most this many matches (default 100, at most 1000); split: at most this many parts, the last one holding the rest (default all)."
                    }
                }),
                &["operation", "text"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let op = req_str(&args, "operation")?;
        let text = req_str(&args, "text")?;
        let ci = opt_bool(&args, "case_insensitive", false)?;
        let pattern = opt_str(&args, "pattern")?;
        let need_regex = || -> Result<Regex, ToolError> {
            let p = pattern.ok_or_else(|| {
                ToolError::InvalidArguments(format!("`pattern` is required for {op}"))
            })?;
            compile(p, ci)
        };
        match op {
            "find" => {
                let re = need_regex()?;
                let limit = opt_u64(&args, "limit", DEFAULT_FIND_LIMIT)?.min(MAX_FIND_LIMIT);
                Ok(find(&re, text, limit as usize))
            }
            "replace" => {
                let re = need_regex()?;
                let replacement = opt_str(&args, "replacement")?.ok_or_else(|| {
                    ToolError::InvalidArguments(
                        "`replacement` is required for replace (use \"\" to delete)".into(),
                    )
                })?;
                let count = re.find_iter(text).count();
                let out = re.replace_all(text, replacement);
                Ok(obj([("text", json!(out)), ("replacements", json!(count))]))
            }
            "split" => {
                let limit = opt_u64(&args, "limit", 0)? as usize;
                let parts: Vec<&str> = match (opt_str(&args, "separator")?, pattern) {
                    (Some(_), Some(_)) => {
                        return Err(ToolError::InvalidArguments(
                            "give either `separator` or `pattern` for split, not both".into(),
                        ));
                    }
                    (Some(sep), None) if limit > 0 => text.splitn(limit, sep).collect(),
                    (Some(sep), None) => text.split(sep).collect(),
                    (None, Some(_)) => {
                        let re = need_regex()?;
                        if limit > 0 {
                            re.splitn(text, limit).collect()
                        } else {
                            re.split(text).collect()
                        }
                    }
                    (None, None) => {
                        return Err(ToolError::InvalidArguments(
                            "split needs `separator` (literal) or `pattern` (regex)".into(),
                        ));
                    }
                };
                Ok(obj([
                    ("count", json!(parts.len())),
                    ("parts", json!(parts)),
                ]))
            }
            "word_count" => Ok(obj([
                ("words", json!(text.split_whitespace().count())),
                ("lines", json!(text.lines().count())),
                ("characters", json!(text.chars().count())),
                ("bytes", json!(text.len())),
            ])),
            "lower" => Ok(obj([("text", json!(text.to_lowercase()))])),
            "upper" => Ok(obj([("text", json!(text.to_uppercase()))])),
            "trim" => Ok(obj([("text", json!(text.trim()))])),
            other => Err(ToolError::InvalidArguments(format!(
                "unknown operation `{other}`"
            ))),
        }
    }
}

fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, ToolError> {
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(4 * REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| ToolError::InvalidArguments(format!("invalid regex: {e}")))
}

/// Converts increasing byte offsets into character offsets incrementally.
struct CharPos<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl CharPos<'_> {
    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            // captures may start before the previous end; recount from 0
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

fn find(re: &Regex, text: &str, limit: usize) -> Value {
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut pos = CharPos {
        text,
        byte: 0,
        chars: 0,
    };
    let mut matches = Vec::new();
    let mut truncated = false;
    for caps in re.captures_iter(text) {
        if matches.len() == limit {
            truncated = true;
            break;
        }
        let whole = caps.get(0).expect("group 0 always matches");
        let start = pos.at(whole.start());
        let end = pos.at(whole.end());
        let mut m = Map::new();
        m.insert("text".into(), json!(whole.as_str()));
        m.insert("start".into(), json!(start));
        m.insert("end".into(), json!(end));
        if names.len() > 1 {
            let groups: Vec<Value> = (1..caps.len())
                .map(|i| caps.get(i).map_or(Value::Null, |g| json!(g.as_str())))
                .collect();
            m.insert("groups".into(), Value::Array(groups));
            let named: Map<String, Value> = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    n.map(|n| {
                        let v = caps.get(i).map_or(Value::Null, |g| json!(g.as_str()));
                        (n.to_string(), v)
                    })
                })
                .collect();
            if !named.is_empty() {
                m.insert("named".into(), Value::Object(named));
            }
        }
        matches.push(Value::Object(m));
    }
    obj([
        ("count", json!(matches.len())),
        ("matches", Value::Array(matches)),
        ("truncated", json!(truncated)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    #[tokio::test]
    async fn find_with_positions_and_captures() {
        let out = run(
            &Text,
            json!({"operation": "find", "text": "née 2024-01-05 and 2025-12-31",
                   "pattern": r"(?P<y>\d{4})-(\d{2})-(\d{2})"}),
        )
        .await
        .unwrap();
        assert_eq!(out["count"], 2);
        assert_eq!(out["truncated"], false);
        let m = &out["matches"][0];
        assert_eq!(m["text"], "2024-01-05");
        assert_eq!(
            (m["start"].as_u64(), m["end"].as_u64()),
            (Some(4), Some(14))
        );
        assert_eq!(m["groups"], json!(["2024", "01", "05"]));
        assert_eq!(m["named"], json!({"y": "2024"}));
        assert_eq!(out["matches"][1]["start"], 19);

        let out = run(&Text, json!({"operation": "find", "text": "a A a", "pattern": "a", "case_insensitive": true, "limit": 2}))
            .await
            .unwrap();
        assert_eq!(out["count"], 2);
        assert_eq!(out["truncated"], true);
        assert!(out["matches"][0].get("groups").is_none());
    }

    #[tokio::test]
    async fn replace_split_and_counts() {
        let out = run(
            &Text,
            json!({"operation": "replace", "text": "John Smith, Jane Doe",
            "pattern": r"(\w+) (\w+)", "replacement": "$2 $1"}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            json!({"text": "Smith John, Doe Jane", "replacements": 2})
        );

        let out = run(
            &Text,
            json!({"operation": "split", "text": "a,b,,c", "separator": ","}),
        )
        .await
        .unwrap();
        assert_eq!(out["parts"], json!(["a", "b", "", "c"]));
        let out = run(
            &Text,
            json!({"operation": "split", "text": "a1b22c", "pattern": r"\d+", "limit": 2}),
        )
        .await
        .unwrap();
        assert_eq!(out["parts"], json!(["a", "b22c"]));

        let out = run(
            &Text,
            json!({"operation": "word_count", "text": "hello wörld\nsecond line\n"}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            json!({"words": 4, "lines": 2, "characters": 24, "bytes": 25})
        );

        let out = run(&Text, json!({"operation": "upper", "text": "straße"}))
            .await
            .unwrap();
        assert_eq!(out["text"], "STRASSE");
        let out = run(&Text, json!({"operation": "lower", "text": "ABC"}))
            .await
            .unwrap();
        assert_eq!(out["text"], "abc");
        let out = run(&Text, json!({"operation": "trim", "text": "  x \n"}))
            .await
            .unwrap();
        assert_eq!(out["text"], "x");
    }

    #[tokio::test]
    async fn errors() {
        let err = run(
            &Text,
            json!({"operation": "find", "text": "x", "pattern": "("}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.starts_with("invalid regex")),
            "{err:?}"
        );
        let err = run(&Text, json!({"operation": "find", "text": "x"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("`pattern` is required for find".into())
        );
        let err = run(
            &Text,
            json!({"operation": "replace", "text": "x", "pattern": "x"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(&Text, json!({"operation": "split", "text": "x"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(&Text, json!({"operation": "explode", "text": "x"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.contains("must be one of")),
            "{err:?}"
        );
        // a regex whose compiled program would be huge is refused
        let err = run(
            &Text,
            json!({"operation": "find", "text": "x", "pattern": r"\w{1000}{1000}"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.starts_with("invalid regex")),
            "{err:?}"
        );
    }
}
