//! Where a JSON text of one [`Shape`] is, byte by byte: a pushdown
//! recognizer whose every state is cheap to copy (a token is tried on a
//! copy), and whose work per byte is bounded by the shape's size.
//!
//! What it takes whole always parses with serde_json: strings are UTF-8
//! with valid escapes (a surrogate only in a pair), nesting stays within
//! [`MAX_DEPTH`], and numbers within [`MAX_NUMBER_BYTES`] with at most a
//! two-digit exponent, so within f64's range. Between tokens at most
//! [`MAX_BLANKS`] blanks in a row, and nothing after the value.

use std::sync::LazyLock;

use super::shape::{Property, Shape, Tag};

/// Deepest nesting of objects and arrays (serde_json stops at 128).
pub const MAX_DEPTH: usize = 64;
/// Longest number, sign, point and exponent included.
pub const MAX_NUMBER_BYTES: u8 = 24;
/// Longest run of blanks between tokens: indented JSON, but not a model
/// filling its answer with blanks.
pub const MAX_BLANKS: u8 = 24;

#[derive(Debug, Clone)]
enum Frame<'s> {
    /// A value is expected.
    Value(&'s Shape),
    Object {
        properties: Option<&'s [Property]>,
        /// Which declared properties were written (a bit each).
        seen: Vec<u64>,
        unseen: usize,
        missing_required: usize,
        /// The declared property whose key was just written.
        current: Option<usize>,
        state: ObjectState,
    },
    Array {
        item: &'s Shape,
        state: ArrayState,
    },
    /// Inside a string (a value, or a key of a free-form object).
    Str(StrState),
    /// Inside the key of an object with declared properties: those whose
    /// written key starts with what was written are `low..high`.
    Key {
        low: usize,
        high: usize,
        at: usize,
    },
    Number {
        integer: bool,
        state: NumberState,
        length: u8,
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
        tags: &'s [Tag],
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
enum StrState {
    Plain,
    Backslash,
    /// Hex digits of `\u` still expected. `d`: the first was `d`; `high`:
    /// the escape is a high surrogate, which a low one must follow; `low`:
    /// it must be that low surrogate (DC00–DFFF).
    Hex {
        left: u8,
        d: bool,
        high: bool,
        low: bool,
    },
    /// After a high surrogate: the `\` and `u` of its low one.
    LowBackslash,
    LowU,
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
    ExponentDigit,
    ExponentDigits,
}

impl NumberState {
    fn accepting(self) -> bool {
        matches!(
            self,
            NumberState::Zero
                | NumberState::Int
                | NumberState::Fraction
                | NumberState::ExponentDigit
                | NumberState::ExponentDigits
        )
    }
}

/// Where a JSON text of one shape is.
#[derive(Debug, Clone)]
pub struct Recognizer<'s> {
    stack: Vec<Frame<'s>>,
    blanks: u8,
    depth: usize,
}

impl<'s> Recognizer<'s> {
    pub fn new(shape: &'s Shape) -> Self {
        Self {
            stack: vec![Frame::Value(shape)],
            blanks: 0,
            depth: 0,
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

    /// The text so far is a whole value (a top-level number or literal may
    /// still go on: `1` may become `12`, `1.5` or `1e3`).
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
        let blank = matches!(byte, b' ' | b'\n' | b'\r' | b'\t');
        match frame {
            Frame::Value(shape) => {
                let shape: &'s Shape = shape;
                if blank {
                    return self.blank();
                }
                self.blanks = 0;
                self.stack.pop();
                self.start_value(shape, byte)
            }
            Frame::Object { .. } if blank => self.blank(),
            Frame::Object {
                properties,
                seen,
                unseen,
                missing_required,
                current,
                state,
            } => {
                self.blanks = 0;
                let properties: Option<&'s [Property]> = *properties;
                let keys_left = properties.is_none() || *unseen > 0;
                match (*state, byte) {
                    (ObjectState::Start | ObjectState::Key, b'"') if keys_left => {
                        *state = ObjectState::Colon;
                        let key = match properties {
                            Some(p) => Frame::Key {
                                low: 0,
                                high: p.len(),
                                at: 0,
                            },
                            None => Frame::Str(StrState::Plain),
                        };
                        self.stack.push(key);
                        true
                    }
                    (ObjectState::Start | ObjectState::AfterValue, b'}')
                        if *missing_required == 0 =>
                    {
                        self.stack.pop();
                        self.depth -= 1;
                        true
                    }
                    (ObjectState::AfterValue, b',') if keys_left => {
                        *state = ObjectState::Key;
                        true
                    }
                    (ObjectState::Colon, b':') => {
                        let value = match (properties, *current) {
                            (Some(p), Some(i)) => {
                                seen[i / 64] |= 1 << (i % 64);
                                *unseen -= 1;
                                if p[i].required {
                                    *missing_required -= 1;
                                }
                                &p[i].shape
                            }
                            _ => &Shape::Any,
                        };
                        *state = ObjectState::AfterValue;
                        self.stack.push(Frame::Value(value));
                        true
                    }
                    _ => false,
                }
            }
            Frame::Array { .. } if blank => self.blank(),
            Frame::Array { item, state } => {
                self.blanks = 0;
                let item: &'s Shape = item;
                match (*state, byte) {
                    (ArrayState::Start | ArrayState::AfterValue, b']') => {
                        self.stack.pop();
                        self.depth -= 1;
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
            Frame::Str(state) => match string_byte(*state, byte) {
                Some(Some(next)) => {
                    *state = next;
                    true
                }
                Some(None) => {
                    self.stack.pop();
                    true
                }
                None => false,
            },
            Frame::Key { low, high, at } => {
                let (low, high, at) = (*low, *high, *at);
                self.key_byte(low, high, at, byte)
            }
            Frame::Number {
                integer,
                state,
                length,
            } => match number_byte(*state, *integer, byte) {
                Some(next) if *length < MAX_NUMBER_BYTES => {
                    *state = next;
                    *length += 1;
                    true
                }
                Some(_) => false,
                // The number ended: the byte belongs to what holds it.
                None if state.accepting() => {
                    self.stack.pop();
                    self.push(byte)
                }
                None => false,
            },
            Frame::Literal {
                texts,
                low,
                high,
                at,
            } => {
                // The possible texts share their first `at` bytes, so they
                // are sorted by the next one (a text that ends sorts first).
                let (from, to) = narrow(texts, *low..*high, *at, byte, |t| t);
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
                let tags: &'s [Tag] = tags;
                let position = *at;
                alive.retain(|&i| tags[i].prefix.get(position) == Some(&byte));
                *at += 1;
                match alive.as_slice() {
                    [] => false,
                    [i] if tags[*i].prefix.len() == *at => {
                        let tag = &tags[*i];
                        self.stack.pop();
                        if !tag.suffix.is_empty() {
                            self.stack.push(Frame::Literal {
                                texts: std::slice::from_ref(&tag.suffix),
                                low: 0,
                                high: 1,
                                at: 0,
                            });
                        }
                        self.stack.push(Frame::Value(&tag.shape));
                        true
                    }
                    _ => true,
                }
            }
        }
    }

    fn blank(&mut self) -> bool {
        self.blanks += 1;
        self.blanks <= MAX_BLANKS
    }

    /// A byte of a declared key: it narrows the keys it could be, or, a
    /// quote, ends one that is whole and not yet written.
    fn key_byte(&mut self, low: usize, high: usize, at: usize, byte: u8) -> bool {
        let [
            ..,
            Frame::Object {
                properties: Some(properties),
                seen,
                current,
                ..
            },
            _,
        ] = self.stack.as_mut_slice()
        else {
            return false;
        };
        let properties: &'s [Property] = properties;
        let unwritten = |i: usize| seen[i / 64] & (1 << (i % 64)) == 0;
        let (from, to) = narrow(properties, low..high, at, byte, |p| &p.written);
        if (from..to).any(unwritten) {
            // A quote that continues a key is escaped (`\"`), and a whole
            // key never ends in an escaping backslash: the two never meet.
            self.stack.pop();
            self.stack.push(Frame::Key {
                low: from,
                high: to,
                at: at + 1,
            });
            return true;
        }
        // A whole key sorts first among those it begins.
        if byte == b'"' && properties[low].written.len() == at && unwritten(low) {
            *current = Some(low);
            self.stack.pop();
            return true;
        }
        false
    }

    /// The first byte of a value of `shape`.
    fn start_value(&mut self, shape: &'s Shape, byte: u8) -> bool {
        match (shape, byte) {
            (Shape::Any, b'{') => self.open_object(None),
            (Shape::Any, b'[') => self.open_array(&Shape::Any),
            (Shape::Any, b'"') | (Shape::String, b'"') => self.open(Frame::Str(StrState::Plain)),
            (Shape::Any, b'-' | b'0'..=b'9') => self.start_number(false, byte),
            (Shape::Any, _) => self.start_literals(&ANY_LITERALS, byte),
            (Shape::Object(properties), b'{') => self.open_object(properties.as_deref()),
            (Shape::Array(item), b'[') => self.open_array(item),
            (Shape::Number { integer }, b'-' | b'0'..=b'9') => self.start_number(*integer, byte),
            (Shape::Boolean, _) => self.start_literals(&BOOLEANS, byte),
            (Shape::Null, _) => self.start_literals(&NULL, byte),
            (Shape::Literals(texts), _) => self.start_literals(texts, byte),
            (Shape::Union(shapes), _) => shapes
                .iter()
                .find(|s| s.may_start_with(byte))
                .is_some_and(|s| self.start_value(s, byte)),
            (Shape::Tagged(tags), _) => {
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

    fn open_object(&mut self, properties: Option<&'s [Property]>) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        let count = properties.map_or(0, <[Property]>::len);
        self.open(Frame::Object {
            properties,
            seen: vec![0; count.div_ceil(64)],
            unseen: count,
            missing_required: properties.map_or(0, |p| p.iter().filter(|p| p.required).count()),
            current: None,
            state: ObjectState::Start,
        })
    }

    fn open_array(&mut self, item: &'s Shape) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        self.open(Frame::Array {
            item,
            state: ArrayState::Start,
        })
    }

    fn start_number(&mut self, integer: bool, byte: u8) -> bool {
        let state = match byte {
            b'-' => NumberState::Minus,
            b'0' => NumberState::Zero,
            _ => NumberState::Int,
        };
        self.open(Frame::Number {
            integer,
            state,
            length: 1,
        })
    }

    fn start_literals(&mut self, texts: &'s [Vec<u8>], byte: u8) -> bool {
        if texts.is_empty() {
            return false;
        }
        self.stack.push(Frame::Literal {
            texts,
            low: 0,
            high: texts.len(),
            at: 0,
        });
        self.push(byte)
    }
}

/// A byte inside a string: the next state, `Some(None)` for the closing
/// quote, `None` if it does not fit.
fn string_byte(state: StrState, byte: u8) -> Option<Option<StrState>> {
    use StrState as S;
    let next = match (state, byte) {
        (S::Plain, b'"') => return Some(None),
        (S::Plain, b'\\') => S::Backslash,
        (S::Plain, 0x20..0x80) => S::Plain,
        (S::Plain, lead) => {
            let (left, low, high) = match lead {
                0xC2..=0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF),
                0xED => (2, 0x80, 0x9F),
                0xE1..=0xEF => (2, 0x80, 0xBF),
                0xF0 => (3, 0x90, 0xBF),
                0xF1..=0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F),
                _ => return None, // a control character, or not UTF-8
            };
            S::Utf8 { left, low, high }
        }
        (S::Utf8 { left, low, high }, b) if (low..=high).contains(&b) => match left {
            1 => S::Plain,
            _ => S::Utf8 {
                left: left - 1,
                low: 0x80,
                high: 0xBF,
            },
        },
        (S::Backslash, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => S::Plain,
        (S::Backslash, b'u') => S::Hex {
            left: 4,
            d: false,
            high: false,
            low: false,
        },
        (S::LowBackslash, b'\\') => S::LowU,
        (S::LowU, b'u') => S::Hex {
            left: 4,
            d: false,
            high: false,
            low: true,
        },
        (S::Hex { left, d, high, low }, b) if b.is_ascii_hexdigit() => {
            let digit = b.to_ascii_lowercase();
            let (d, high) = match left {
                4 if low && digit != b'd' => return None,
                4 => (digit == b'd', false),
                // The second digit after `d`: 8–b a high surrogate, c–f a low one.
                3 if d => match (digit, low) {
                    (b'0'..=b'7', false) => (true, false),
                    (b'8'..=b'9' | b'a'..=b'b', false) => (true, true),
                    (b'c'..=b'f', true) => (true, false),
                    _ => return None,
                },
                _ => (d, high),
            };
            match left {
                1 if high => S::LowBackslash,
                1 => S::Plain,
                _ => S::Hex {
                    left: left - 1,
                    d,
                    high,
                    low,
                },
            }
        }
        _ => return None,
    };
    Some(Some(next))
}

/// A byte of a number: the next state, `None` if it does not continue it.
fn number_byte(state: NumberState, integer: bool, byte: u8) -> Option<NumberState> {
    use NumberState as N;
    Some(match (state, byte) {
        (N::Minus, b'0') => N::Zero,
        (N::Minus, b'1'..=b'9') => N::Int,
        (N::Int, b'0'..=b'9') => N::Int,
        (N::Zero | N::Int, b'.') if !integer => N::Dot,
        (N::Zero | N::Int | N::Fraction, b'e' | b'E') if !integer => N::Exponent,
        (N::Dot | N::Fraction, b'0'..=b'9') => N::Fraction,
        (N::Exponent, b'+' | b'-') => N::ExponentSign,
        (N::Exponent | N::ExponentSign, b'0'..=b'9') => N::ExponentDigit,
        (N::ExponentDigit, b'0'..=b'9') => N::ExponentDigits,
        _ => return None,
    })
}

/// Sorted, as [`Shape::literals`] keeps them.
static ANY_LITERALS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| vec![b"false".to_vec(), b"null".to_vec(), b"true".to_vec()]);
static BOOLEANS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| vec![b"false".to_vec(), b"true".to_vec()]);
static NULL: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| vec![b"null".to_vec()]);

/// The part of `items[range]` whose texts (sorted, sharing their first `at`
/// bytes) go on with `byte` at `at`: a sorted range, found by two binary
/// searches.
fn narrow<T>(
    items: &[T],
    range: std::ops::Range<usize>,
    at: usize,
    byte: u8,
    text: impl Fn(&T) -> &[u8],
) -> (usize, usize) {
    let possible = &items[range.clone()];
    let next = Some(&byte);
    let from = range.start + possible.partition_point(|t| text(t).get(at) < next);
    let to = range.start + possible.partition_point(|t| text(t).get(at) <= next);
    (from, to)
}
