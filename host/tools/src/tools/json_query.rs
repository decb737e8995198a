//! `json_query`: runs a jq filter over a JSON value with the jaq crates
//! (jaq-core 3 + jaq-std 3 + jaq-json 2).
//!
//! The filter runs sandboxed: module imports cannot read files (the loader
//! has no reader), and the natives that reach outside the value are replaced
//! by ones that fail: `env` (would leak the host's environment, API keys
//! included), `halt` (jaq's `unwrap_valr` would exit the host process; we
//! never call it) and `stderr` (would write to the host's terminal). Output
//! is capped at [`MAX_OUTPUTS`] values nested at most [`MAX_DEPTH`] deep.
//!
//! jaq has neither fuel nor a recursion limit, and a stack overflow aborts
//! the whole host, so filters are restricted to a bounded subset of jq:
//! the constructs that can recurse or generate without bound — user
//! functions (`def`), `recurse`, `repeat`, `while`, `until`, `range`,
//! `walk`, `combinations`, `paths`, `input(s)` — are refused before the
//! filter runs ([`UNBOUNDED`]). What is left is bounded by the size of the
//! input (itself at most 128 levels deep, serde_json's limit). Each run
//! still gets its own thread with a [`STACK_SIZE`] stack, and the caller
//! stops waiting after [`TIMEOUT`]. Running jq in a wasm sandbox with fuel
//! would lift the restriction.

use std::time::Duration;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data};
use jaq_json::Val;
use serde_json::{Value, json};

use super::{object_schema, opt_any, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `json_query` tool.
pub struct JsonQuery;

/// Builtins and keywords refused because they can run without bound.
pub const UNBOUNDED: &[&str] = &[
    "def",
    "recurse",
    "recurse_down",
    "repeat",
    "while",
    "until",
    "range",
    "walk",
    "combinations",
    "paths",
    "leaf_paths",
    "input",
    "inputs",
    "getpath",
    "env",
];

/// Refuses filters that use an [`UNBOUNDED`] construct.
fn check_bounded(filter: &str) -> Result<(), ToolError> {
    let words = filter.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'));
    for word in words {
        let bare = word.trim_start_matches('$');
        if UNBOUNDED.contains(&bare) {
            return Err(ToolError::InvalidArguments(format!(
                "json_query runs a bounded subset of jq: `{bare}` is not available (refused: {})",
                UNBOUNDED.join(", ")
            )));
        }
    }
    Ok(())
}

/// At most this many outputs are returned.
pub const MAX_OUTPUTS: usize = 1000;
/// Deepest output nesting returned (deeper values would overflow the
/// recursive serializers and destructors of the caller's thread).
pub const MAX_DEPTH: usize = 128;
/// Stack of the thread a filter runs on.
pub const STACK_SIZE: usize = 256 << 20;
/// The caller stops waiting for a filter after this long.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[async_trait::async_trait]
impl Tool for JsonQuery {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "json_query".into(),
            description: "Run a jq filter over JSON data (jq syntax, e.g. `.items[] | select(.price > 10) | .name`, \
                `map(.age) | add / length`, `group_by(.kind) | map({kind: .[0].kind, n: length})`). \
                Returns the filter's single output, or a list when it yields zero or several outputs \
                (at most 1000)."
                .into(),
            parameters: object_schema(
                json!({
                    "input": {
                        "description": "The JSON data: any JSON value, or a string holding JSON text \
                            (a string that is not valid JSON is used as a plain string)."
                    },
                    "filter": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 10000,
                        "description": "The jq filter, e.g. `.[] | .name`."
                    }
                }),
                &["input", "filter"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let filter = req_str(&args, "filter")?.to_string();
        check_bounded(&filter)?;
        let input = match opt_any(&args, "input") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("json_query".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let _ = tx.send(run(&filter, input));
            })
            .map_err(|e| ToolError::Failed(format!("cannot start the jq thread: {e}")))?;
        let mut outputs = match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(ToolError::Failed("the jq filter crashed".into())),
            Err(_) => {
                return Err(ToolError::Failed(format!(
                    "the jq filter ran longer than {} s and was abandoned; simplify it",
                    TIMEOUT.as_secs()
                )));
            }
        };
        Ok(if outputs.len() == 1 {
            outputs.pop().unwrap_or_default()
        } else {
            Value::Array(outputs)
        })
    }
}

type D = data::JustLut<Val>;

/// Natives that would reach outside the value; each fails instead.
const DENIED: &[&str] = &["env", "halt", "stderr_empty"];

fn denied<'a>(_: jaq_core::Cv<'a, D>) -> jaq_core::ValXs<'a, Val> {
    jaq_core::box_iter::box_once(Err(jaq_core::Exn::from(jaq_core::Error::str(
        "this filter is not available in json_query (no environment, stderr or halt)",
    ))))
}

/// Compiles `filter` and runs it over `input`.
pub fn run(filter: &str, input: Value) -> Result<Vec<Value>, ToolError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs::<D>()
        .chain(jaq_std::funs::<D>())
        .chain(jaq_json::funs::<D>())
        .map(|(name, arity, native)| {
            if DENIED.contains(&name) {
                (name, arity, Native::<D>::new(denied))
            } else {
                (name, arity, native)
            }
        });

    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: filter,
                path: (),
            },
        )
        .map_err(|errs| ToolError::InvalidArguments(load_errors(filter, errs)))?;
    let compiled = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(_file, undefs)| undefs)
                .map(|(name, undef)| {
                    format!("undefined {} `{name}`{}", undef.as_str(), at(filter, name))
                })
                .collect();
            ToolError::InvalidArguments(format!("jq filter: {}", msgs.join("; ")))
        })?;

    let ctx = Ctx::<D>::new(&compiled.lut, Vars::new([]));
    let mut out = Vec::new();
    for result in compiled.id.run((ctx, to_val(input))) {
        match result {
            Ok(v) if too_deep(&v) => {
                return Err(ToolError::Failed(format!(
                    "jq error: an output is nested more than {MAX_DEPTH} levels deep"
                )));
            }
            Ok(v) => out.push(from_val(&v)),
            Err(exn) => {
                let msg = match exn.get_err() {
                    Ok(err) => err.to_string(),
                    Err(_) => "the filter halted".to_string(),
                };
                return Err(ToolError::Failed(format!("jq error: {msg}")));
            }
        }
        if out.len() >= MAX_OUTPUTS {
            break;
        }
    }
    Ok(out)
}

/// " at position N" (1-based characters) when `part` lies inside `whole`.
fn at(whole: &str, part: &str) -> String {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    if p >= w && p + part.len() <= w + whole.len() {
        let byte = jaq_core::load::span(whole, part).start;
        format!(" at position {}", whole[..byte].chars().count() + 1)
    } else {
        String::new()
    }
}

fn load_errors(filter: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut msgs = Vec::new();
    for (_file, err) in errs {
        match err {
            Error::Io(list) => msgs.extend(
                list.into_iter()
                    .map(|(path, e)| format!("cannot import `{path}`: {e}")),
            ),
            Error::Lex(list) => msgs.extend(list.into_iter().map(|(expect, found)| {
                format!("expected {}{}", expect.as_str(), at(filter, found))
            })),
            Error::Parse(list) => msgs.extend(list.into_iter().map(|(expect, found)| {
                let found_desc = if found.is_empty() {
                    "the end of the filter".to_string()
                } else {
                    format!("`{}`", found.chars().take(20).collect::<String>())
                };
                format!(
                    "expected {}, found {found_desc}{}",
                    expect.as_str(),
                    at(filter, found)
                )
            })),
        }
    }
    format!("jq filter: {}", msgs.join("; "))
}

/// Whether `v` nests deeper than [`MAX_DEPTH`] (checked without recursion).
fn too_deep(v: &Val) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return true;
        }
        match v {
            Val::Arr(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Val::Obj(o) => stack.extend(o.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    false
}

fn to_val(v: Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::from(b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(jaq_json::Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(jaq_json::Num::from_integral(u))
            } else {
                Val::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Val::from(s),
        Value::Array(a) => a.into_iter().map(to_val).collect(),
        Value::Object(o) => Val::obj(
            o.into_iter()
                .map(|(k, v)| (Val::from(k), to_val(v)))
                .collect(),
        ),
    }
}

fn from_val(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num(n),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => Value::Array(a.iter().map(from_val).collect()),
        Val::Obj(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                        other => other.to_string(),
                    };
                    (key, from_val(v))
                })
                .collect(),
        ),
    }
}

fn num(n: &jaq_json::Num) -> Value {
    use jaq_json::Num;
    match n {
        Num::Int(i) => json!(i),
        Num::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        // big integers and decimals keep their digits when JSON can carry them
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run as call;

    #[tokio::test]
    async fn filters_and_outputs() {
        let input = json!({"items": [{"name": "a", "price": 5}, {"name": "b", "price": 15}, {"name": "c", "price": 25}]});
        let out = call(
            &JsonQuery,
            json!({"input": input, "filter": ".items[] | select(.price > 10) | .name"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!(["b", "c"]));
        let out = call(
            &JsonQuery,
            json!({"input": input, "filter": "[.items[].price] | add / length"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!(15.0));
        let out = call(
            &JsonQuery,
            json!({"input": input, "filter": ".items | map(.name) | join(\",\")"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!("a,b,c"));
        let out = call(&JsonQuery, json!({"input": input, "filter": "empty"}))
            .await
            .unwrap();
        assert_eq!(out, json!([]));
        let out = call(
            &JsonQuery,
            json!({"input": input, "filter": "{n: (.items | length), first: .items[0].name}"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!({"n": 3, "first": "a"}));
    }

    #[tokio::test]
    async fn input_may_be_json_text() {
        let out = call(
            &JsonQuery,
            json!({"input": "[1, 2, 3]", "filter": "map(. * 2)"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!([2, 4, 6]));
        let out = call(
            &JsonQuery,
            json!({"input": "not json", "filter": "ascii_upcase"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!("NOT JSON"));
        let out = call(
            &JsonQuery,
            json!({"input": {"big": 12345678901234567890u64}, "filter": ".big"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!(12345678901234567890u64));
    }

    #[tokio::test]
    async fn errors() {
        let err = call(&JsonQuery, json!({"input": 1, "filter": ".[] |"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.starts_with("jq filter: expected")),
            "{err:?}"
        );
        let err = call(&JsonQuery, json!({"input": 1, "filter": "nosuchfn"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments(
                "jq filter: undefined filter `nosuchfn` at position 1".into()
            )
        );
        let err = call(&JsonQuery, json!({"input": 1, "filter": ".a"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.starts_with("jq error:")),
            "{err:?}"
        );
        let err = call(&JsonQuery, json!({"input": 1, "filter": "error(\"boom\")"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("boom")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn sandboxed() {
        for f in [
            "env",
            "$ENV",
            "halt",
            "halt_error",
            "\"x\" | stderr",
            "input",
            "import \"x\" as x; .",
        ] {
            let out = call(&JsonQuery, json!({"input": {}, "filter": f})).await;
            assert!(out.is_err(), "{f}: {out:?}");
        }
        let many: Vec<u32> = (0..5000).collect();
        let out = call(&JsonQuery, json!({"input": many, "filter": ".[]"}))
            .await
            .unwrap();
        assert_eq!(out.as_array().unwrap().len(), MAX_OUTPUTS);
    }

    #[tokio::test]
    async fn unbounded_constructs_are_refused_before_running() {
        for f in [
            "def f: 1 + f; f",
            "[repeat(1)]",
            "last(repeat(1))",
            "[range(1e9)]",
            "[recurse(. + 1)]",
            "until(false; .)",
            "[limit(3; combinations)]",
        ] {
            let err = call(&JsonQuery, json!({"input": 1, "filter": f}))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ToolError::InvalidArguments(m) if m.contains("bounded subset")),
                "{f}: {err:?}"
            );
        }
    }
}
