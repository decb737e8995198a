//! What a JSON Schema asks of a value, compiled into the [`Shape`] the
//! recognizer follows.
//!
//! What a schema constrains: `type` (one or a list), `enum`, `const`,
//! object `properties` (only declared keys, each once; every `required` one
//! of them before the object closes), array `items`, `anyOf`/`oneOf` whose
//! branches start with different bytes. Anything else (`$ref`, `pattern`,
//! bounds, an object's `required` without `properties`) leaves that value
//! free-form JSON.

use serde_json::Value;

/// The compiled shape of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Any JSON value.
    Any,
    /// An object: with declared properties only those keys; `None` any key.
    Object(Option<Vec<Property>>),
    Array(Box<Shape>),
    String,
    Number {
        integer: bool,
    },
    Boolean,
    Null,
    /// One of these exact JSON texts (`enum`, `const`), sorted (see
    /// [`Shape::literals`]).
    Literals(Vec<Vec<u8>>),
    /// One of several shapes, told apart by their first byte.
    Union(Vec<Shape>),
    /// One of several tagged values: a literal prefix (no prefix starts
    /// another), the value, then a literal suffix. A tool call is this,
    /// `{"name": "NAME", "arguments": ` + the tool's arguments + `}`.
    Tagged(Vec<Tag>),
}

/// A declared object property.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    /// The key as written between its quotes (JSON-escaped).
    pub written: Vec<u8>,
    pub shape: Shape,
    pub required: bool,
}

/// A tagged value of [`Shape::Tagged`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub prefix: Vec<u8>,
    pub shape: Shape,
    pub suffix: Vec<u8>,
}

impl Shape {
    /// Compiles a JSON Schema; what it cannot express becomes [`Shape::Any`].
    pub fn from_schema(schema: &Value) -> Shape {
        let Some(map) = schema.as_object() else {
            return Shape::Any;
        };
        if let Some(value) = map.get("const") {
            return Shape::literals(vec![literal(value)]);
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            return Shape::literals(values.iter().map(literal).collect());
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(key) {
                return union(branches.iter().map(Shape::from_schema).collect());
            }
        }
        match map.get("type") {
            Some(Value::String(name)) => Shape::of_type(name, map),
            Some(Value::Array(names)) => union(
                names
                    .iter()
                    .map(|n| n.as_str().map_or(Shape::Any, |n| Shape::of_type(n, map)))
                    .collect(),
            ),
            _ if map.contains_key("properties") => Shape::of_type("object", map),
            _ => Shape::Any,
        }
    }

    fn of_type(name: &str, map: &serde_json::Map<String, Value>) -> Shape {
        match name {
            "object" => Shape::object(map),
            "array" => Shape::Array(Box::new(
                map.get("items").map_or(Shape::Any, Shape::from_schema),
            )),
            "string" => Shape::String,
            "number" => Shape::Number { integer: false },
            "integer" => Shape::Number { integer: true },
            "boolean" => Shape::Boolean,
            "null" => Shape::Null,
            _ => Shape::Any,
        }
    }

    fn object(map: &serde_json::Map<String, Value>) -> Shape {
        let Some(declared) = map
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty())
        else {
            return Shape::Object(None);
        };
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut properties: Vec<Property> = declared
            .iter()
            .map(|(name, schema)| Property {
                name: name.clone(),
                written: written_key(name),
                shape: Shape::from_schema(schema),
                required: required.contains(&name.as_str()),
            })
            .collect();
        properties.sort_by(|a, b| a.written.cmp(&b.written));
        Shape::Object(Some(properties))
    }

    /// One of these JSON texts. Sorted, the texts that share a prefix are
    /// neighbours, so where a text is being written is a range, followed by
    /// binary search and copied for nothing.
    pub fn literals(mut texts: Vec<Vec<u8>>) -> Shape {
        texts.sort();
        texts.dedup();
        Shape::Literals(texts)
    }

    /// How many parts the shape has (each shape, key, literal and tag):
    /// what following it costs per token grows with this.
    pub fn parts(&self) -> usize {
        1 + match self {
            Shape::Object(properties) => properties
                .iter()
                .flatten()
                .map(|p| 1 + p.shape.parts())
                .sum(),
            Shape::Array(item) => item.parts(),
            Shape::Literals(texts) => texts.len(),
            Shape::Union(shapes) => shapes.iter().map(Shape::parts).sum(),
            Shape::Tagged(tags) => tags.iter().map(|t| 2 + t.shape.parts()).sum(),
            _ => 0,
        }
    }

    /// Whether a value of this shape may start with `byte` (after blanks).
    pub(super) fn may_start_with(&self, byte: u8) -> bool {
        match self {
            Shape::Any => b"{[\"-0123456789tfn".contains(&byte),
            Shape::Object(_) => byte == b'{',
            Shape::Array(_) => byte == b'[',
            Shape::String => byte == b'"',
            Shape::Number { .. } => byte == b'-' || byte.is_ascii_digit(),
            Shape::Boolean => byte == b't' || byte == b'f',
            Shape::Null => byte == b'n',
            Shape::Literals(texts) => texts.iter().any(|t| t.first() == Some(&byte)),
            Shape::Union(shapes) => shapes.iter().any(|s| s.may_start_with(byte)),
            Shape::Tagged(tags) => tags.iter().any(|t| t.prefix.first() == Some(&byte)),
        }
    }

    /// The bytes a value of this shape may start with (after blanks).
    fn first_bytes(&self) -> Vec<u8> {
        (0..=255u8).filter(|&b| self.may_start_with(b)).collect()
    }
}

fn literal(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A key as JSON writes it between its quotes.
fn written_key(name: &str) -> Vec<u8> {
    let quoted = serde_json::to_vec(name).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_vec()
}

/// A union whose branches overlap in their first byte cannot be followed
/// byte by byte: it is free-form JSON instead.
fn union(shapes: Vec<Shape>) -> Shape {
    let mut seen = Vec::new();
    for shape in &shapes {
        let firsts = shape.first_bytes();
        if firsts.iter().any(|b| seen.contains(b)) {
            return Shape::Any;
        }
        seen.extend(firsts);
    }
    match shapes.len() {
        0 => Shape::Any,
        1 => shapes.into_iter().next().unwrap_or(Shape::Any),
        _ => Shape::Union(shapes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn branches_may_share_first_bytes_within_but_not_across() {
        // pydantic's Optional[Literal["a", "b"]].
        let shape = Shape::from_schema(&json!({"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]}));
        assert!(matches!(shape, Shape::Union(_)), "{shape:?}");
        let shape = Shape::from_schema(&json!({"anyOf": [{"type": "string"}, {"enum": ["x"]}]}));
        assert_eq!(shape, Shape::Any);
    }

    #[test]
    fn keys_are_kept_as_written_and_required_only_when_declared() {
        let shape = Shape::from_schema(&json!({
            "type": "object",
            "properties": {"a\"b": {"type": "string"}, "c": {}},
            "required": ["c", "missing"]
        }));
        let Shape::Object(Some(properties)) = shape else {
            panic!()
        };
        assert_eq!(properties[0].written, br#"a\"b"#);
        assert!(!properties[0].required);
        assert!(properties[1].required);
        let loose = Shape::from_schema(&json!({"type": "object", "required": ["q"]}));
        assert_eq!(loose, Shape::Object(None));
    }
}
