//! The recognizer and the mask, against hand-picked texts and serde_json.

use serde_json::{Value, json};

use super::recognizer::{MAX_BLANKS, MAX_DEPTH};
use super::*;

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
        "\"é😀\\u00e9\\ud83d\\ude00\"",
    ] {
        assert!(accepts_whole(&any, text), "{text}");
    }
    for text in [
        r#"{"a" 1}"#,
        "[1,]",
        "01",
        "tru",
        r#"{"a": }"#,
        "\"a\nb\"",
        r#""\ud800""#,
        r#""\ude00""#,
        r#""\ud83dx""#,
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
fn numbers_stay_within_f64_and_nesting_within_serde_json() {
    let any = Shape::Any;
    assert!(accepts_whole(&any, "-1.25e+99"));
    assert!(!accepts_whole(&any, "1e400"), "three exponent digits");
    assert!(
        !accepts_whole(&any, "1234567890123456789012345"),
        "25 bytes"
    );
    let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(accepts_whole(&any, &deep));
    let deeper = "[".repeat(MAX_DEPTH + 1);
    assert!(!Recognizer::new(&any).accepts(deeper.as_bytes()));
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
    // Byte by byte, a key is checked as it is written.
    let r = Recognizer::new(&shape);
    assert!(r.accepts(br#"{"ci"#));
    assert!(!r.accepts(br#"{"cx"#));
    // With every key written, no comma may follow.
    let mut r = Recognizer::new(&shape);
    assert!(r.push_all(br#"{"days": 1, "unit": "celsius", "city": "x""#));
    assert!(!r.accepts(b","));
    assert!(r.accepts(b"}"));
}

#[test]
fn keys_are_written_as_json_escapes_them() {
    let shape = Shape::from_schema(&json!({
        "type": "object",
        "properties": {"a\\b": {}, "q\"": {}},
        "required": ["a\\b"]
    }));
    assert!(accepts_whole(&shape, r#"{"a\\b": 1, "q\"": 2}"#));
    // `a\b` in JSON is "a" and a backspace: not the declared key.
    assert!(!accepts_whole(&shape, r#"{"a\b": 1}"#));
}

#[test]
fn a_free_form_object_closes_whatever_its_required() {
    let shape = Shape::from_schema(&json!({"type": "object", "required": ["q"]}));
    assert!(accepts_whole(&shape, r#"{"q": 1}"#));
    assert!(accepts_whole(&shape, "{}"));
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
    let shape = Shape::from_schema(&json!({"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]}));
    assert!(accepts_whole(&shape, "\"b\""));
    assert!(!accepts_whole(&shape, "\"c\""));
    let array = Shape::from_schema(&json!({"type": "array", "items": {"type": "boolean"}}));
    assert!(accepts_whole(&array, "[true, false]"));
    assert!(!accepts_whole(&array, "[1]"));
    assert!(!accepts_whole(
        &Shape::from_schema(&json!({"enum": []})),
        "null"
    ));
}

#[test]
fn tagged_values_pick_their_shape_by_prefix() {
    let tag = |name: &str, schema: Value| Tag {
        prefix: format!(r#"{{"name": "{name}", "arguments": "#).into_bytes(),
        shape: Shape::from_schema(&schema),
        suffix: b"}".to_vec(),
    };
    let shape = Shape::Tagged(vec![
        tag(
            "get",
            json!({"type": "object", "properties": {"k": {"type": "string"}}}),
        ),
        tag("get_time", json!({"type": "object"})),
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
    let mut r = Recognizer::new(&shape);
    assert!(r.push_all(br#"{"name": "get_time", "arguments": {}}"#));
    assert!(r.is_finished());
}

/// A vocabulary larger than the likeliest tokens tried first: when none of
/// those fits, the rest are, and only fitting ones keep their logits.
#[test]
fn masking_keeps_only_fitting_tokens() {
    let mut tokens: Vec<Option<Vec<u8>>> = (0..200)
        .map(|i| Some(format!("w{i}").into_bytes()))
        .collect();
    tokens.push(Some(b"{\"".to_vec())); // 200
    tokens.push(Some(b"{".to_vec())); // 201
    tokens.push(None); // 202: a special token, the end
    tokens.push(Some(b"}".to_vec())); // 203
    let shape = Shape::Any;
    let r = Recognizer::new(&shape);
    // The words are likeliest; none of them is JSON.
    let mut logits: Vec<f32> = (0..tokens.len())
        .map(|i| if i < 200 { 10.0 } else { 1.0 })
        .collect();
    assert!(mask(&mut logits, &r, &tokens, &[202]));
    let kept: Vec<usize> = (0..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    assert_eq!(kept, [200, 201]);
    // Once the value is complete, the end token may come.
    let mut r = Recognizer::new(&shape);
    assert!(r.push_all(b"{}"));
    let mut logits = vec![1.0; tokens.len()];
    assert!(mask(&mut logits, &r, &tokens, &[202]));
    let kept: Vec<usize> = (0..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    assert_eq!(kept, [202]);
}

/// Every one-byte deletion and insertion of a JSON-significant byte in a
/// valid document: the recognizer agrees with serde_json on whether the
/// result is one whole JSON value (but for blanks after it, which the
/// recognizer never takes).
#[test]
fn agrees_with_serde_json_on_mutations() {
    let doc = br#"{"a": [1, -2.5e+3, true, null, "x\"\u00e9y"], "b": {"c": false}, "d": 0}"#;
    let mut cases = Vec::new();
    for i in 0..=doc.len() {
        if i < doc.len() {
            let mut deleted = doc.to_vec();
            deleted.remove(i);
            cases.push(deleted);
        }
        for byte in *b"{}[]\",:\\0-.eEtnu " {
            if i == doc.len() && byte == b' ' {
                continue;
            }
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
fn blank_runs_are_bounded() {
    let r = Recognizer::new(&Shape::Any);
    let most = vec![b' '; usize::from(MAX_BLANKS)];
    assert!(r.accepts(&[b"{".as_slice(), &most, b"}"].concat()));
    let more = vec![b' '; usize::from(MAX_BLANKS) + 1];
    assert!(!r.accepts(&[b"{".as_slice(), &more].concat()));
}
