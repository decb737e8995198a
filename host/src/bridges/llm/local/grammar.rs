//! Constrained decoding: a byte-level JSON recognizer, guided by a subset
//! of JSON Schema, that tells whether a token's bytes keep the answer a
//! prefix of a valid value. With it a small local model's JSON answers and
//! tool calls always parse, and always fit their schema's shape.
//!
//! What a schema constrains: `type` (one or a list), `enum`, `const`,
//! object `properties` (only declared keys, each once; every `required` key
//! before the object closes), array `items`, `anyOf`/`oneOf` whose branches
//! start differently. Anything else (`$ref`, `pattern`, bounds) leaves that
//! value free-form JSON.

use std::sync::LazyLock;

use serde_json::Value;

/// The compiled shape of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Any JSON value.
    Any,
    /// An object: with declared properties only those keys; `None` any key.
    Object {
        properties: Option<Vec<(String, Shape)>>,
        required: Vec<String>,
    },
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
    /// another), the value, then a literal suffix. Tool calls are this,
    /// `{"name": "NAME", "arguments": ` + the tool's arguments + `}`.
    Tagged(Vec<(Vec<u8>, Shape, Vec<u8>)>),
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
            "object" => {
                let properties = map.get("properties").and_then(Value::as_object);
                // A required key that is not declared could never be
                // written: the object could never close. It is dropped.
                let required = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .filter(|k| {
                                properties.is_none_or(|p| p.is_empty() || p.contains_key(*k))
                            })
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                Shape::Object {
                    properties: properties.filter(|p| !p.is_empty()).map(|p| {
                        p.iter()
                            .map(|(key, schema)| (key.clone(), Shape::from_schema(schema)))
                            .collect()
                    }),
                    required,
                }
            }
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

    /// One of these JSON texts. Sorted, the texts that share a prefix are
    /// neighbours, so where a text is being written is a range, followed by
    /// binary search and copied for nothing.
    pub fn literals(mut texts: Vec<Vec<u8>>) -> Shape {
        texts.sort();
        texts.dedup();
        Shape::Literals(texts)
    }

    /// How many parts the shape has (each shape, literal and tag): what
    /// following it costs per token grows with this.
    pub fn parts(&self) -> usize {
        1 + match self {
            Shape::Object {
                properties,
                required,
            } => {
                required.len()
                    + properties
                        .iter()
                        .flatten()
                        .map(|(_, shape)| 1 + shape.parts())
                        .sum::<usize>()
            }
            Shape::Array(item) => item.parts(),
            Shape::Literals(texts) => texts.len(),
            Shape::Union(shapes) => shapes.iter().map(Shape::parts).sum(),
            Shape::Tagged(tags) => tags.iter().map(|(_, shape, _)| 2 + shape.parts()).sum(),
            _ => 0,
        }
    }

    /// The bytes a value of this shape may start with (after whitespace).
    fn first_bytes(&self) -> Vec<u8> {
        match self {
            Shape::Any => b"{[\"-0123456789tfn".to_vec(),
            Shape::Object { .. } => vec![b'{'],
            Shape::Array(_) => vec![b'['],
            Shape::String => vec![b'"'],
            Shape::Number { .. } => b"-0123456789".to_vec(),
            Shape::Boolean => vec![b't', b'f'],
            Shape::Null => vec![b'n'],
            Shape::Literals(texts) => texts.iter().filter_map(|t| t.first().copied()).collect(),
            Shape::Union(shapes) => shapes.iter().flat_map(Shape::first_bytes).collect(),
            Shape::Tagged(tags) => tags.iter().filter_map(|t| t.0.first().copied()).collect(),
        }
    }
}

fn literal(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A union whose branches overlap in their first byte cannot be followed
/// byte by byte: it is free-form JSON instead.
fn union(shapes: Vec<Shape>) -> Shape {
    let mut seen = Vec::new();
    for shape in &shapes {
        for byte in shape.first_bytes() {
            if seen.contains(&byte) {
                return Shape::Any;
            }
            seen.push(byte);
        }
    }
    match shapes.len() {
        0 => Shape::Any,
        1 => shapes.into_iter().next().unwrap_or(Shape::Any),
        _ => Shape::Union(shapes),
    }
}

/// Most parts ([`Shape::parts`]) a shape may have: following one costs the
/// host work per token for each part alive, so a spell cannot make each
/// token cost seconds with a schema of a million `enum` values.
pub const MAX_PARTS: usize = 4096;

/// Longest run of whitespace between tokens: enough for indented JSON, not
/// enough for a model to fill its answer with blanks.
const MAX_WHITESPACE: u8 = 16;

#[derive(Debug, Clone)]
enum Frame<'s> {
    /// A value is expected.
    Value(&'s Shape),
    Object {
        shape: &'s Shape,
        /// Keys already written.
        seen: Vec<&'s str>,
        state: ObjectState,
    },
    Array {
        item: &'s Shape,
        state: ArrayState,
    },
    /// Inside a string. `key` collects an object key's bytes so they can be
    /// checked against the declared properties.
    Str {
        key: Option<Vec<u8>>,
        escape: Escape,
    },
    Number {
        integer: bool,
        state: NumberState,
    },
    /// Partway through one of several literal texts (sorted): the ones
    /// still possible are `texts[low..high]`, written up to `at`.
    Literal {
        texts: &'s [Vec<u8>],
        low: usize,
        high: usize,
        at: usize,
    },
    /// Partway through the prefix of one of several tagged values.
    TagPrefix {
        tags: &'s [(Vec<u8>, Shape, Vec<u8>)],
        alive: Vec<usize>,
        at: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ObjectState {
    /// After `{`: a key or `}`.
    Start,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or `}`.
    AfterValue,
    /// After `,`: a key.
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ArrayState {
    Start,
    AfterValue,
    Item,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Escape {
    None,
    Backslash,
    /// Hex digits of `\u` still expected; `d` once the first was `d`
    /// (the second must then keep it out of the surrogates, D800–DFFF,
    /// which alone are not text).
    Hex {
        left: u8,
        d: bool,
    },
    /// Continuation bytes of a UTF-8 character still expected, the next
    /// one in `low..=high` (what rules out overlong forms and surrogates).
    Utf8 {
        left: u8,
        low: u8,
        high: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumberState {
    Minus,
    Zero,
    Int,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl NumberState {
    fn accepting(self) -> bool {
        matches!(
            self,
            NumberState::Zero
                | NumberState::Int
                | NumberState::Fraction
                | NumberState::ExponentDigits
        )
    }
}

/// Where a JSON text of one shape is, byte by byte.
#[derive(Debug, Clone)]
pub struct Recognizer<'s> {
    stack: Vec<Frame<'s>>,
    whitespace: u8,
}

impl<'s> Recognizer<'s> {
    pub fn new(shape: &'s Shape) -> Self {
        Self {
            stack: vec![Frame::Value(shape)],
            whitespace: 0,
        }
    }

    /// Whether all of `bytes` may come next (without consuming them).
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        !bytes.is_empty() && self.clone().push_all(bytes)
    }

    /// Consumes `bytes`; `false` (and an undefined state) if one does not fit.
    pub fn push_all(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.push(b))
    }

    /// The text so far is a whole value: nothing more may follow, except
    /// more digits of a number at the top level.
    pub fn is_complete(&self) -> bool {
        match self.stack.as_slice() {
            [] => true,
            [Frame::Number { state, .. }] => state.accepting(),
            // The shortest possible text sorts first.
            [Frame::Literal { texts, low, at, .. }] => texts[*low].len() == *at,
            _ => false,
        }
    }

    /// Whether the value is complete and no byte can extend it.
    pub fn is_finished(&self) -> bool {
        self.stack.is_empty()
    }

    fn push(&mut self, byte: u8) -> bool {
        let Some(frame) = self.stack.last_mut() else {
            return false; // the value is complete
        };
        let is_space = matches!(byte, b' ' | b'\n' | b'\r' | b'\t');
        match frame {
            Frame::Value(shape) => {
                let shape: &'s Shape = shape;
                if is_space {
                    return self.space();
                }
                self.whitespace = 0;
                self.stack.pop();
                self.start_value(shape, byte)
            }
            Frame::Object { shape, seen, state } => {
                let shape: &'s Shape = shape;
                if is_space {
                    return self.space();
                }
                self.whitespace = 0;
                let Shape::Object {
                    properties,
                    required,
                } = shape
                else {
                    return false;
                };
                let unseen_left = properties
                    .as_ref()
                    .is_none_or(|p| p.iter().any(|(k, _)| !seen.contains(&k.as_str())));
                let can_close = required.iter().all(|k| seen.contains(&k.as_str()));
                match (*state, byte) {
                    (ObjectState::Start | ObjectState::Key, b'"') if unseen_left => {
                        *state = ObjectState::Colon;
                        self.stack.push(Frame::Str {
                            key: Some(Vec::new()),
                            escape: Escape::None,
                        });
                        true
                    }
                    (ObjectState::Start | ObjectState::AfterValue, b'}') if can_close => {
                        self.stack.pop();
                        true
                    }
                    (ObjectState::AfterValue, b',') if unseen_left => {
                        *state = ObjectState::Key;
                        true
                    }
                    (ObjectState::Colon, b':') => {
                        // The key was checked as it closed; it is the last seen.
                        let value_shape = match (properties, seen.last()) {
                            (Some(props), Some(key)) => props
                                .iter()
                                .find(|(k, _)| k == key)
                                .map_or(&Shape::Any, |(_, s)| s),
                            _ => &Shape::Any,
                        };
                        *state = ObjectState::AfterValue;
                        self.stack.push(Frame::Value(value_shape));
                        true
                    }
                    _ => false,
                }
            }
            Frame::Array { item, state } => {
                let item: &'s Shape = item;
                if is_space {
                    return self.space();
                }
                self.whitespace = 0;
                match (*state, byte) {
                    (ArrayState::Start | ArrayState::AfterValue, b']') => {
                        self.stack.pop();
                        true
                    }
                    (ArrayState::AfterValue, b',') => {
                        *state = ArrayState::Item;
                        true
                    }
                    (ArrayState::Start | ArrayState::Item, _) => {
                        *state = ArrayState::AfterValue;
                        self.start_value(item, byte)
                    }
                    _ => false,
                }
            }
            Frame::Str { key, escape } => {
                let done = match (*escape, byte) {
                    (Escape::None, b'"') => true,
                    (Escape::None, b'\\') => {
                        *escape = Escape::Backslash;
                        false
                    }
                    (Escape::None, 0..0x20) => return false,
                    (Escape::None, 0x20..0x80) => false,
                    (Escape::None, lead) => {
                        let (left, low, high) = match lead {
                            0xC2..=0xDF => (1, 0x80, 0xBF),
                            0xE0 => (2, 0xA0, 0xBF),
                            0xED => (2, 0x80, 0x9F),
                            0xE1..=0xEF => (2, 0x80, 0xBF),
                            0xF0 => (3, 0x90, 0xBF),
                            0xF1..=0xF3 => (3, 0x80, 0xBF),
                            0xF4 => (3, 0x80, 0x8F),
                            _ => return false,
                        };
                        *escape = Escape::Utf8 { left, low, high };
                        false
                    }
                    (Escape::Utf8 { left, low, high }, b) if (low..=high).contains(&b) => {
                        *escape = match left {
                            1 => Escape::None,
                            _ => Escape::Utf8 {
                                left: left - 1,
                                low: 0x80,
                                high: 0xBF,
                            },
                        };
                        false
                    }
                    (Escape::Backslash, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        *escape = Escape::None;
                        false
                    }
                    (Escape::Backslash, b'u') => {
                        *escape = Escape::Hex { left: 4, d: false };
                        false
                    }
                    (Escape::Hex { left: 3, d: true }, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                        return false;
                    }
                    (Escape::Hex { left, .. }, b) if b.is_ascii_hexdigit() => {
                        *escape = match left {
                            1 => Escape::None,
                            _ => Escape::Hex {
                                left: left - 1,
                                d: left == 4 && b.eq_ignore_ascii_case(&b'd'),
                            },
                        };
                        false
                    }
                    _ => return false,
                };
                if let (Some(key), false) = (key.as_mut(), done) {
                    key.push(byte);
                }
                let key = key.clone();
                if done {
                    self.stack.pop();
                }
                match key {
                    Some(key) => self.check_key(&key, done),
                    None => true,
                }
            }
            Frame::Number { integer, state } => {
                use NumberState as N;
                let next = match (*state, byte) {
                    (N::Minus, b'0') => Some(N::Zero),
                    (N::Minus, b'1'..=b'9') => Some(N::Int),
                    (N::Int, b'0'..=b'9') => Some(N::Int),
                    (N::Zero | N::Int, b'.') if !*integer => Some(N::Dot),
                    (N::Zero | N::Int | N::Fraction, b'e' | b'E') if !*integer => Some(N::Exponent),
                    (N::Dot | N::Fraction, b'0'..=b'9') => Some(N::Fraction),
                    (N::Exponent, b'+' | b'-') => Some(N::ExponentSign),
                    (N::Exponent | N::ExponentSign | N::ExponentDigits, b'0'..=b'9') => {
                        Some(N::ExponentDigits)
                    }
                    _ => None,
                };
                match next {
                    Some(next) => {
                        *state = next;
                        true
                    }
                    // The number ended: the byte belongs to what holds it.
                    None if state.accepting() => {
                        self.stack.pop();
                        self.push(byte)
                    }
                    None => false,
                }
            }
            Frame::Literal {
                texts,
                low,
                high,
                at,
            } => {
                // The possible texts share their first `at` bytes, so they
                // are sorted by the next one (a text that ends sorts first).
                let possible = &texts[*low..*high];
                let next = Some(&byte);
                let from = *low + possible.partition_point(|t| t.get(*at) < next);
                let to = *low + possible.partition_point(|t| t.get(*at) <= next);
                if from < to {
                    (*low, *high, *at) = (from, to, *at + 1);
                    // One text left and all of it written: nothing can extend it.
                    if to - from == 1 && texts[from].len() == *at {
                        self.stack.pop();
                    }
                    return true;
                }
                if texts[*low].len() == *at {
                    self.stack.pop();
                    return self.push(byte);
                }
                false
            }
            Frame::TagPrefix { tags, alive, at } => {
                let tags: &'s [(Vec<u8>, Shape, Vec<u8>)] = tags;
                let position = *at;
                alive.retain(|&i| tags[i].0.get(position) == Some(&byte));
                *at += 1;
                match alive.as_slice() {
                    [] => false,
                    [i] if tags[*i].0.len() == *at => {
                        let (_, shape, suffix) = &tags[*i];
                        self.stack.pop();
                        if !suffix.is_empty() {
                            self.stack.push(Frame::Literal {
                                texts: std::slice::from_ref(suffix),
                                low: 0,
                                high: 1,
                                at: 0,
                            });
                        }
                        self.stack.push(Frame::Value(shape));
                        true
                    }
                    _ => true,
                }
            }
        }
    }

    fn space(&mut self) -> bool {
        self.whitespace += 1;
        self.whitespace <= MAX_WHITESPACE
    }

    /// The first byte of a value of `shape`.
    fn start_value(&mut self, shape: &'s Shape, byte: u8) -> bool {
        match shape {
            Shape::Any => match byte {
                b'{' => self.open(Frame::Object {
                    shape: &ANY_OBJECT,
                    seen: Vec::new(),
                    state: ObjectState::Start,
                }),
                b'[' => self.open(Frame::Array {
                    item: &Shape::Any,
                    state: ArrayState::Start,
                }),
                b'"' => self.open(Frame::Str {
                    key: None,
                    escape: Escape::None,
                }),
                b'-' | b'0'..=b'9' => self.start_number(false, byte),
                _ => self.start_value(&ANY_LITERALS, byte),
            },
            Shape::Object { .. } if byte == b'{' => self.open(Frame::Object {
                shape,
                seen: Vec::new(),
                state: ObjectState::Start,
            }),
            Shape::Array(item) if byte == b'[' => self.open(Frame::Array {
                item,
                state: ArrayState::Start,
            }),
            Shape::String if byte == b'"' => self.open(Frame::Str {
                key: None,
                escape: Escape::None,
            }),
            Shape::Number { integer } if byte == b'-' || byte.is_ascii_digit() => {
                self.start_number(*integer, byte)
            }
            Shape::Boolean => self.start_value(&BOOLEANS, byte),
            Shape::Null => self.start_value(&NULL, byte),
            Shape::Literals(texts) if !texts.is_empty() => {
                self.stack.push(Frame::Literal {
                    texts,
                    low: 0,
                    high: texts.len(),
                    at: 0,
                });
                self.push(byte)
            }
            Shape::Union(shapes) => shapes
                .iter()
                .find(|s| s.first_bytes().contains(&byte))
                .is_some_and(|s| self.start_value(s, byte)),
            Shape::Tagged(tags) => {
                self.stack.push(Frame::TagPrefix {
                    tags,
                    alive: (0..tags.len()).collect(),
                    at: 0,
                });
                self.push(byte)
            }
            _ => false,
        }
    }

    fn open(&mut self, frame: Frame<'s>) -> bool {
        self.stack.push(frame);
        true
    }

    fn start_number(&mut self, integer: bool, byte: u8) -> bool {
        let state = match byte {
            b'-' => NumberState::Minus,
            b'0' => NumberState::Zero,
            _ => NumberState::Int,
        };
        self.open(Frame::Number { integer, state })
    }

    /// An object key being written (`done`: its closing quote came) must
    /// begin (or be) a declared key not yet written.
    fn check_key(&mut self, key: &[u8], done: bool) -> bool {
        // The object is the frame under the key's string (or, once the
        // string closed, the top one).
        let Some(Frame::Object { shape, seen, .. }) = self
            .stack
            .iter_mut()
            .rev()
            .find(|f| matches!(f, Frame::Object { .. }))
        else {
            return false;
        };
        let Shape::Object { properties, .. } = shape else {
            return false;
        };
        let Some(properties) = properties else {
            return true; // any key; duplicates are not tracked
        };
        let mut candidates = properties
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !seen.contains(k));
        if done {
            match candidates.find(|k| k.as_bytes() == key) {
                Some(k) => {
                    seen.push(k);
                    true
                }
                None => false,
            }
        } else {
            candidates.any(|k| k.as_bytes().starts_with(key))
        }
    }
}

/// How many of the likeliest tokens are tried before the whole vocabulary.
const LIKELIEST: usize = 64;

/// Keeps the logits of the tokens whose bytes `recognizer` accepts (the
/// end-of-text tokens `ends` only once the value is complete) and sets the
/// others to minus infinity. Only the likeliest tokens are tried, unless
/// none of them fits: then every token is. `false` if no token fits.
pub fn mask(
    logits: &mut [f32],
    recognizer: &Recognizer,
    tokens: &[Option<Vec<u8>>],
    ends: &[u32],
) -> bool {
    let complete = recognizer.is_complete();
    let fits = |id: usize| {
        if ends.contains(&(id as u32)) {
            complete
        } else {
            tokens
                .get(id)
                .and_then(Option::as_deref)
                .is_some_and(|bytes| recognizer.accepts(bytes))
        }
    };
    let mut order: Vec<usize> = (0..logits.len()).collect();
    let likeliest = LIKELIEST.min(order.len());
    if likeliest == 0 {
        return false;
    }
    order.select_nth_unstable_by(likeliest - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
    let mut keep: Vec<usize> = order[..likeliest]
        .iter()
        .copied()
        .filter(|&id| fits(id))
        .collect();
    if keep.is_empty() {
        keep = (0..logits.len()).filter(|&id| fits(id)).collect();
    }
    let kept: Vec<(usize, f32)> = keep.iter().map(|&id| (id, logits[id])).collect();
    logits.fill(f32::NEG_INFINITY);
    for (id, logit) in &kept {
        logits[*id] = *logit;
    }
    !kept.is_empty()
}

static ANY_OBJECT: Shape = Shape::Object {
    properties: None,
    required: Vec::new(),
};
static ANY_LITERALS: LazyLock<Shape> =
    LazyLock::new(|| Shape::literals(vec![b"true".into(), b"false".into(), b"null".into()]));
static BOOLEANS: LazyLock<Shape> =
    LazyLock::new(|| Shape::literals(vec![b"true".into(), b"false".into()]));
static NULL: LazyLock<Shape> = LazyLock::new(|| Shape::literals(vec![b"null".into()]));

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts_whole(shape: &Shape, text: &str) -> bool {
        let mut r = Recognizer::new(shape);
        r.push_all(text.as_bytes()) && r.is_complete()
    }

    #[test]
    fn any_json_is_accepted_and_broken_json_is_not() {
        let any = Shape::Any;
        for text in [
            r#"{"a": [1, -2.5e3, true, null, "x\"\u00e9"], "b": {}}"#,
            "[]",
            "0",
            "-12",
            r#""text""#,
            "false",
        ] {
            assert!(accepts_whole(&any, text), "{text}");
        }
        assert!(accepts_whole(&any, "\"é😀\\u00e9\""));
        for text in [
            r#"{"a" 1}"#,
            "[1,]",
            "01",
            "tru",
            r#"{"a": }"#,
            "\"a\nb\"",
            r#""\ud800""#,
        ] {
            assert!(!accepts_whole(&any, text), "{text}");
        }
        // Bytes that are not UTF-8 never enter a string.
        for bytes in [
            &b"\"\xff\""[..],
            b"\"\xc0\xaf\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xe2\x82\"",
        ] {
            let mut r = Recognizer::new(&any);
            assert!(!(r.push_all(bytes) && r.is_complete()), "{bytes:?}");
        }
        // A prefix is accepted but is not complete.
        let mut r = Recognizer::new(&any);
        assert!(r.push_all(br#"{"a": [1"#));
        assert!(!r.is_complete());
    }

    #[test]
    fn an_object_schema_allows_its_keys_once_and_requires_the_required() {
        let shape = Shape::from_schema(&json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city"]
        }));
        assert!(accepts_whole(&shape, r#"{"city": "Oslo"}"#));
        assert!(accepts_whole(
            &shape,
            r#"{"days": 3, "city": "Oslo", "unit": "celsius"}"#
        ));
        assert!(
            !accepts_whole(&shape, r#"{"days": 3}"#),
            "required key missing"
        );
        assert!(
            !accepts_whole(&shape, r#"{"town": "Oslo"}"#),
            "undeclared key"
        );
        assert!(!accepts_whole(&shape, r#"{"city": "a", "city": "b"}"#));
        assert!(!accepts_whole(&shape, r#"{"city": "Oslo", "days": 2.5}"#));
        assert!(!accepts_whole(
            &shape,
            r#"{"city": "Oslo", "unit": "kelvin"}"#
        ));
        assert!(!accepts_whole(&shape, r#"{"city": 4}"#));
        // A required key that is not declared is not required.
        let loose = Shape::from_schema(&json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "required": ["a", "b"]
        }));
        assert!(accepts_whole(&loose, r#"{"a": ""}"#));
        // Byte by byte, a key is checked as it is written.
        let r = Recognizer::new(&shape);
        assert!(r.accepts(br#"{"ci"#));
        assert!(!r.accepts(br#"{"cx"#));
    }

    #[test]
    fn enums_numbers_and_unions() {
        let shape = Shape::from_schema(&json!({"enum": [1, 12, "a"]}));
        assert!(accepts_whole(&shape, "1"));
        assert!(accepts_whole(&shape, "12"));
        assert!(accepts_whole(&shape, "\"a\""));
        assert!(!accepts_whole(&shape, "123"));
        let shape = Shape::from_schema(&json!({"type": ["string", "null"]}));
        assert!(accepts_whole(&shape, "null"));
        assert!(accepts_whole(&shape, "\"x\""));
        assert!(!accepts_whole(&shape, "1"));
        let array = Shape::from_schema(&json!({"type": "array", "items": {"type": "boolean"}}));
        assert!(accepts_whole(&array, "[true, false]"));
        assert!(!accepts_whole(&array, "[1]"));
    }

    #[test]
    fn tagged_values_pick_their_shape_by_prefix() {
        let shape = Shape::Tagged(vec![
            (
                br#"{"name": "get", "arguments": "#.to_vec(),
                Shape::from_schema(
                    &json!({"type": "object", "properties": {"k": {"type": "string"}}}),
                ),
                b"}".to_vec(),
            ),
            (
                br#"{"name": "get_time", "arguments": "#.to_vec(),
                Shape::from_schema(&json!({"type": "object"})),
                b"}".to_vec(),
            ),
        ]);
        assert!(accepts_whole(
            &shape,
            r#"{"name": "get", "arguments": {"k": "v"}}"#
        ));
        assert!(accepts_whole(
            &shape,
            r#"{"name": "get_time", "arguments": {"zone": "UTC"}}"#
        ));
        assert!(!accepts_whole(
            &shape,
            r#"{"name": "get", "arguments": {"zone": "UTC"}}"#
        ));
        assert!(!accepts_whole(
            &shape,
            r#"{"name": "other", "arguments": {}}"#
        ));
    }

    #[test]
    fn masking_keeps_only_fitting_tokens() {
        let tokens: Vec<Option<Vec<u8>>> = vec![
            Some(b"Sure".to_vec()),
            Some(b"{\"".to_vec()),
            Some(b"{".to_vec()),
            None, // a special token
            Some(b"}".to_vec()),
        ];
        let shape = Shape::Any;
        let r = Recognizer::new(&shape);
        let mut logits = vec![5.0, 1.0, 2.0, 9.0, 0.5];
        assert!(mask(&mut logits, &r, &tokens, &[3]));
        assert_eq!(
            logits,
            [
                f32::NEG_INFINITY,
                1.0,
                2.0,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY
            ]
        );
        // Once the value is complete, the end token may come.
        let mut r = Recognizer::new(&shape);
        assert!(r.push_all(b"{}"));
        let mut logits = vec![5.0, 1.0, 2.0, 9.0, 0.5];
        assert!(mask(&mut logits, &r, &tokens, &[3]));
        assert_eq!(logits[3], 9.0);
    }

    /// Every one-byte deletion, and insertion of a JSON-significant byte,
    /// of a valid document: the recognizer agrees with serde_json on
    /// whether the result is one whole JSON value.
    #[test]
    fn agrees_with_serde_json_on_mutations() {
        let doc = br#"{"a": [1, -2.5e+3, true, null, "x\"\u00e9y"], "b": {"c": false}, "d": 0}"#;
        let mut cases = Vec::new();
        for i in 0..doc.len() {
            let mut deleted = doc.to_vec();
            deleted.remove(i);
            cases.push(deleted);
            for byte in *b"{}[]\",:\\0-.eEtn " {
                let mut inserted = doc.to_vec();
                inserted.insert(i, byte);
                cases.push(inserted);
            }
        }
        for case in cases {
            let ours = {
                let mut r = Recognizer::new(&Shape::Any);
                r.push_all(&case) && r.is_complete()
            };
            let theirs = serde_json::from_slice::<Value>(&case).is_ok();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(&case));
        }
    }

    #[test]
    fn whitespace_runs_are_bounded() {
        let r = Recognizer::new(&Shape::Any);
        assert!(r.accepts(b"{\n    "));
        assert!(!r.accepts(&[b' '; 40]));
    }
}
