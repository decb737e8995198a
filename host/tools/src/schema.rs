//! Argument validation against the JSON Schema subset the tools use.
//!
//! Supported keywords: `type` (a name or a list of names), `properties`,
//! `required`, `additionalProperties` (boolean only), `items` (one schema),
//! `enum`, `minimum`/`maximum`, `minLength`/`maxLength` (in characters),
//! `minItems`/`maxItems`. Everything else (`default`, `description`, ...) is
//! ignored. Errors name the path of the offending value, e.g.
//! "`expression`: expected a string, got 42".

use serde_json::Value;

/// Validates `args` against a JSON Schema subset: type (object, array,
/// string, number, integer, boolean, null, and lists of types), properties,
/// required, additionalProperties (bool), items, enum, minimum/maximum,
/// minLength/maxLength, minItems/maxItems; `default` is ignored.
pub fn validate(schema: &Value, args: &Value) -> Result<(), String> {
    check(schema, args, "")
}

fn at(path: &str, msg: String) -> String {
    if path.is_empty() {
        msg
    } else {
        format!("`{path}`: {msg}")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A short rendering of a value for error messages.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => {
            v.is_i64()
                || v.is_u64()
                || v.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true, // unknown type names are not ours to enforce
    }
}

fn article(ty: &str) -> String {
    match ty {
        "object" | "array" | "integer" => format!("an {ty}"),
        "null" => "null".to_string(),
        _ => format!("a {ty}"),
    }
}

fn check(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        // `true`/`{}`/anything else accepts everything; `false` rejects.
        return if schema == &Value::Bool(false) {
            Err(at(path, "no value is allowed here".into()))
        } else {
            Ok(())
        };
    };

    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
            let want: Vec<String> = types.iter().map(|t| article(t)).collect();
            let want = match want.as_slice() {
                [one] => one.clone(),
                [init @ .., last] => format!("{} or {last}", init.join(", ")),
                [] => unreachable!(),
            };
            return Err(at(path, format!("expected {want}, got {}", show(v))));
        }
    }

    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(at(path, format!("must be one of {}", list.join(", "))));
    }

    match v {
        Value::Object(obj) => {
            if let Some(Value::Array(required)) = schema.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(name) {
                        return Err(format!("missing required property `{}`", join(path, name)));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (key, value) in obj {
                match props.and_then(|p| p.get(key)) {
                    Some(sub) => check(sub, value, &join(path, key))?,
                    None => {
                        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                            let mut known: Vec<String> = props
                                .map(|p| p.keys().map(|k| format!("`{k}`")).collect())
                                .unwrap_or_default();
                            known.sort();
                            let hint = if known.is_empty() {
                                "this takes no properties".to_string()
                            } else {
                                format!("expected one of {}", known.join(", "))
                            };
                            return Err(at(path, format!("unknown property `{key}`; {hint}")));
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                return Err(at(
                    path,
                    format!("must have at least {min} items, got {}", items.len()),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                return Err(at(
                    path,
                    format!("must have at most {max} items, got {}", items.len()),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                return Err(at(
                    path,
                    format!("must be at least {min} characters long, got {len}"),
                ));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                return Err(at(
                    path,
                    format!("must be at most {max} characters long, got {len}"),
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                return Err(at(path, format!("must be at least {min}, got {n}")));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                return Err(at(path, format!("must be at most {max}, got {n}")));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "expression": {"type": "string", "minLength": 1, "maxLength": 5},
                "op": {"type": "string", "enum": ["find", "replace"]},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number"},
                "maybe": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                "nested": {
                    "type": "object",
                    "properties": {"depth": {"type": "integer"}},
                    "required": ["depth"],
                    "additionalProperties": false
                },
                "anything": {"default": 3}
            },
            "required": ["expression"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_valid() {
        let ok = json!({"expression": "1+2", "op": "find", "count": 3, "ratio": 0.5,
            "maybe": null, "tags": ["a"], "nested": {"depth": 2}, "anything": [1, {}]});
        assert_eq!(validate(&schema(), &ok), Ok(()));
        // integers may arrive as whole floats
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "count": 2.0})),
            Ok(())
        );
    }

    #[test]
    fn type_errors_name_the_path() {
        assert_eq!(
            validate(&schema(), &json!({"expression": 42})).unwrap_err(),
            "`expression`: expected a string, got 42"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "maybe": 1})).unwrap_err(),
            "`maybe`: expected a string or null, got 1"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "count": 1.5})).unwrap_err(),
            "`count`: expected an integer, got 1.5"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "tags": ["a", 3]})).unwrap_err(),
            "`tags[1]`: expected a string, got 3"
        );
        assert_eq!(
            validate(&schema(), &json!([1])).unwrap_err(),
            "expected an object, got [1]"
        );
    }

    #[test]
    fn required_and_additional() {
        assert_eq!(
            validate(&schema(), &json!({})).unwrap_err(),
            "missing required property `expression`"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "nested": {}})).unwrap_err(),
            "missing required property `nested.depth`"
        );
        assert_eq!(
            validate(
                &schema(),
                &json!({"expression": "x", "nested": {"depth": 1, "z": 0}})
            )
            .unwrap_err(),
            "`nested`: unknown property `z`; expected one of `depth`"
        );
        let err = validate(&schema(), &json!({"expression": "x", "bogus": 1})).unwrap_err();
        assert!(
            err.starts_with("unknown property `bogus`; expected one of"),
            "{err}"
        );
    }

    #[test]
    fn enum_and_bounds() {
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "op": "split"})).unwrap_err(),
            "`op`: must be one of \"find\", \"replace\""
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "count": 0})).unwrap_err(),
            "`count`: must be at least 1, got 0"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "count": 11})).unwrap_err(),
            "`count`: must be at most 10, got 11"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": ""})).unwrap_err(),
            "`expression`: must be at least 1 characters long, got 0"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "éééééé"})).unwrap_err(),
            "`expression`: must be at most 5 characters long, got 6"
        );
        assert_eq!(
            validate(&schema(), &json!({"expression": "x", "tags": []})).unwrap_err(),
            "`tags`: must have at least 1 items, got 0"
        );
        assert_eq!(
            validate(
                &schema(),
                &json!({"expression": "x", "tags": ["a", "b", "c"]})
            )
            .unwrap_err(),
            "`tags`: must have at most 2 items, got 3"
        );
    }

    #[test]
    fn every_builtin_schema_accepts_its_minimal_call_shape() {
        // Sanity: the schemas only use keywords we know how to read.
        for tool in crate::builtins() {
            let p = tool.info().parameters;
            assert!(validate(&p, &json!("not an object")).is_err());
        }
    }
}
