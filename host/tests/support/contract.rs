//! The providers' published API descriptions as request validators (see
//! `host/tests/specs/README.md`): OpenAI's OpenAPI description, and JSON
//! Schemas of the Anthropic and Gemini request bodies written from their
//! official SDKs' types. Each is loaded once per test process.
//!
//! OpenAI's description is made as strict as the real API: an object schema
//! that lists its properties refuses any other (`unevaluatedProperties:
//! false`), except where it is an `allOf` member, whose properties the
//! composing schema evaluates.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

fn specs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/specs")
}

/// OpenAI's description as JSON, parsed once.
pub fn openai_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = specs_dir().join("openai/openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_norway::from_str(&wide_integers_as_floats(&text)).expect("openapi.yaml parses")
    })
}

/// The description bounds `seed` with integers beyond 64 bits
/// (`-9223372036854776000`), which JSON values cannot hold: such a scalar
/// is read as a float, as JavaScript tools read it.
fn wide_integers_as_floats(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line);
        if let Some((_, value)) = line.rsplit_once(": ") {
            let digits = value.strip_prefix('-').unwrap_or(value);
            if digits.len() >= 19 && digits.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str(".0");
            }
        }
        out.push('\n');
    }
    out
}

/// A request body validator.
pub struct Contract {
    name: &'static str,
    validator: jsonschema::Validator,
}

impl Contract {
    /// Every way `body` breaks the contract, one line each (none: valid).
    pub fn violations(&self, body: &Value) -> Vec<String> {
        self.validator
            .iter_errors(body)
            .map(|e| format!("{}: {e} (at {})", self.name, e.instance_path()))
            .collect()
    }

    /// Panics with the violations unless `body` is valid.
    pub fn assert_valid(&self, body: &Value) {
        let violations = self.violations(body);
        assert!(
            violations.is_empty(),
            "{}\nbody: {body:#}",
            violations.join("\n")
        );
    }
}

/// `POST /chat/completions` (`CreateChatCompletionRequest`).
pub fn openai_chat() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| openai_contract("CreateChatCompletionRequest"))
}

/// `POST /embeddings` (`CreateEmbeddingRequest`).
pub fn openai_embeddings() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| openai_contract("CreateEmbeddingRequest"))
}

/// `POST /v1/messages`.
pub fn anthropic_messages() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| file_contract("anthropic/messages-request.schema.json"))
}

/// `POST /v1beta/models/{model}:generateContent` (and the streamed form).
pub fn gemini_generate() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| file_contract("gemini/generate-content-request.schema.json"))
}

fn file_contract(file: &'static str) -> Contract {
    let path = specs_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Contract {
        name: file,
        validator: jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    }
}

fn openai_contract(schema: &'static str) -> Contract {
    let spec = openai_spec();
    let mut schemas = spec["components"]["schemas"]
        .as_object()
        .expect("components.schemas")
        .clone();
    assert!(
        schemas.contains_key(schema),
        "no schema {schema} in the description"
    );
    // A schema used as an `allOf` member is evaluated with the whole
    // instance, so there it must not refuse its siblings' properties: such
    // members point to an open copy (`X.open`), and `X` itself is closed
    // wherever else it is used.
    let mixins = allof_mixins(&schemas);
    for name in &mixins {
        if let Some(schema) = schemas.get(name) {
            schemas.insert(format!("{name}.open"), schema.clone());
        }
    }
    for (name, value) in schemas.iter_mut() {
        point_allof_members_to_open_copies(value, &mixins);
        strict(value, !name.ends_with(".open"));
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema}"),
        "components": { "schemas": schemas },
    });
    Contract {
        name: schema,
        validator: jsonschema::validator_for(&root).expect("the OpenAI description compiles"),
    }
}

/// Names of component schemas that appear as `allOf: [{$ref}]` members.
fn allof_mixins(schemas: &Map<String, Value>) -> HashSet<String> {
    fn walk(value: &Value, out: &mut HashSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(members)) = map.get("allOf") {
                    for member in members {
                        if let Some(r) = member.get("$ref").and_then(Value::as_str) {
                            out.insert(r.rsplit('/').next().unwrap_or(r).to_owned());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = HashSet::new();
    schemas.values().for_each(|v| walk(v, &mut out));
    out
}

fn point_allof_members_to_open_copies(value: &mut Value, mixins: &HashSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(members)) = map.get_mut("allOf") {
                for member in members {
                    if let Some(Value::String(r)) = member.get_mut("$ref") {
                        let name = r.rsplit('/').next().unwrap_or_default().to_owned();
                        if mixins.contains(&name) {
                            *r = format!("#/components/schemas/{name}.open");
                        }
                    }
                }
            }
            map.values_mut()
                .for_each(|v| point_allof_members_to_open_copies(v, mixins));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| point_allof_members_to_open_copies(v, mixins)),
        _ => {}
    }
}

/// Adds `unevaluatedProperties: false` to `schema` (when `close` and it
/// lists properties or composes with `allOf`) and to the object schemas
/// nested in it, except direct `allOf` members.
fn strict(schema: &mut Value, close: bool) {
    let Value::Object(map) = schema else { return };
    let lists = map.contains_key("properties") || map.contains_key("allOf");
    if close
        && lists
        && !map.contains_key("additionalProperties")
        && !map.contains_key("unevaluatedProperties")
    {
        map.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("allOf", Value::Array(members)) => {
                for member in members {
                    // A member is evaluated with the whole instance: it must
                    // not refuse its siblings' properties itself.
                    strict(member, false);
                }
            }
            (
                "properties" | "$defs" | "definitions" | "patternProperties",
                Value::Object(props),
            ) => {
                props.values_mut().for_each(|v| strict(v, true));
            }
            ("enum" | "const" | "example" | "examples" | "default" | "required", _) => {}
            (_, Value::Array(items)) => items.iter_mut().for_each(|v| strict(v, true)),
            (_, v @ Value::Object(_)) => strict(v, true),
            _ => {}
        }
    }
}

/// The response examples of an operation's `x-oaiMeta` (`path`, e.g.
/// `/chat/completions`, method `post`), by title. The description's
/// examples abbreviate with `....` lines and leave a trailing comma after
/// the last of a list; both are removed.
pub fn openai_examples(path: &str, method: &str) -> Vec<(String, String)> {
    let examples = &openai_spec()["paths"][path][method]["x-oaiMeta"]["examples"];
    let list = match examples {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![examples.clone()],
        _ => panic!("no examples for {method} {path}"),
    };
    list.iter()
        .filter_map(|e| {
            let title = e["title"].as_str().unwrap_or("Default").to_owned();
            let response = e["response"].as_str()?;
            let text: Vec<&str> = response
                .lines()
                .filter(|line| !line.trim_start().starts_with("...."))
                .collect();
            Some((title, without_trailing_commas(&text.join("\n"))))
        })
        .collect()
}

fn without_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if !matches!(next, Some(']' | '}')) {
                out.push(c);
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}
