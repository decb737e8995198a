//! The jq evaluator component behind the `json_query` tool: jaq (jaq-core
//! 3, jaq-std 3, jaq-json 2) compiled to WebAssembly, so that a filter the
//! host runs for a spell is bounded like the spell itself — the host gives
//! each evaluation fuel, a memory limit and the run's deadline, and a
//! filter that recurses without end overflows the wasm stack, not the
//! host's.
//!
//! Everything jq can express runs here (`def`, `recurse`, `range`,
//! `limit`, …). What would reach outside the value fails instead: `env`
//! and `$ENV` (the component has no environment anyway), `halt` and
//! `stderr`; module imports cannot read files (the loader has no reader).
//! Outputs are written as one JSON array, stopping at `max-outputs` values
//! or `max-bytes` of text, whichever comes first, and nested at most
//! [`MAX_DEPTH`] deep.

use std::fmt::Write as _;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data};
use jaq_json::Val;
use serde_json::Value;

wit_bindgen::generate!({ path: "wit", world: "evaluator" });

/// Deepest output nesting written.
pub const MAX_DEPTH: usize = 128;

struct Evaluator;

impl Guest for Evaluator {
    fn evaluate(
        filter: String,
        input: String,
        max_outputs: u32,
        max_bytes: u64,
    ) -> Result<String, Error> {
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| Error::Invalid(format!("the input is not JSON: {e}")))?;
        run(&filter, input, max_outputs as usize, max_bytes as usize)
    }
}

export!(Evaluator);

type D = data::JustLut<Val>;

/// Natives that would reach outside the value; each fails instead.
const DENIED: &[&str] = &["env", "halt", "stderr_empty", "input", "inputs"];

fn denied<'a>(_: jaq_core::Cv<'a, D>) -> jaq_core::ValXs<'a, Val> {
    jaq_core::box_iter::box_once(Err(jaq_core::Exn::from(jaq_core::Error::str(
        "not available in json_query (no environment, inputs, stderr or halt)",
    ))))
}

/// Compiles `filter`, runs it over `input` and writes the outputs.
fn run(filter: &str, input: Value, max_outputs: usize, max_bytes: usize) -> Result<String, Error> {
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
    // `$ENV` is a variable the loader resolves from the environment: give
    // it an empty object, as a sandbox has no environment.
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
        .map_err(|errs| Error::Invalid(load_errors(filter, errs)))?;
    let compiled = Compiler::default()
        .with_funs(funs)
        .with_global_vars(["$ENV"])
        .compile(modules)
        .map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(_file, undefs)| undefs)
                .map(|(name, undef)| {
                    format!("undefined {} `{name}`{}", undef.as_str(), at(filter, name))
                })
                .collect();
            Error::Invalid(format!("jq filter: {}", msgs.join("; ")))
        })?;

    let env = Val::obj(Default::default());
    let ctx = Ctx::<D>::new(&compiled.lut, Vars::new([env]));
    let mut out = Writer {
        text: String::from("["),
        max_bytes,
    };
    let mut count = 0;
    for result in compiled.id.run((ctx, to_val(input))) {
        match result {
            Ok(v) => {
                if count > 0 {
                    out.text.push(',');
                }
                out.value(&v, 0)?;
                count += 1;
            }
            Err(exn) => {
                let msg = match exn.get_err() {
                    Ok(err) => err.to_string(),
                    Err(_) => "the filter halted".to_string(),
                };
                return Err(Error::Failed(format!("jq error: {msg}")));
            }
        }
        if count >= max_outputs {
            break;
        }
    }
    out.text.push(']');
    Ok(out.text)
}

/// Writes values as JSON text, within a size and a depth.
struct Writer {
    text: String,
    max_bytes: usize,
}

impl Writer {
    fn value(&mut self, v: &Val, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Failed(format!(
                "jq error: an output is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        if self.text.len() > self.max_bytes {
            return Err(self.too_large());
        }
        match v {
            Val::Null => self.text.push_str("null"),
            Val::Bool(b) => self.text.push_str(if *b { "true" } else { "false" }),
            Val::Num(n) => self.number(n),
            Val::TStr(b) | Val::BStr(b) => {
                if b.len() > self.max_bytes {
                    return Err(self.too_large());
                }
                self.string(&String::from_utf8_lossy(b));
            }
            Val::Arr(a) => {
                self.text.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.value(x, depth + 1)?;
                }
                self.text.push(']');
            }
            Val::Obj(o) => {
                self.text.push('{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    match k {
                        Val::TStr(b) | Val::BStr(b) => self.string(&String::from_utf8_lossy(b)),
                        other => self.string(&other.to_string()),
                    }
                    self.text.push(':');
                    self.value(x, depth + 1)?;
                }
                self.text.push('}');
            }
        }
        Ok(())
    }

    fn too_large(&self) -> Error {
        Error::Failed(format!(
            "the filter's output is larger than {} bytes, the most json_query returns; \
             select less (e.g. `.[0:100]`, `limit(10; …)`)",
            self.max_bytes
        ))
    }

    fn string(&mut self, s: &str) {
        // serde_json escapes exactly as JSON requires.
        let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        self.text.push_str(&quoted);
    }

    fn number(&mut self, n: &jaq_json::Num) {
        use jaq_json::Num;
        match n {
            Num::Int(i) => {
                let _ = write!(self.text, "{i}");
            }
            Num::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(number) => {
                    let _ = write!(self.text, "{number}");
                }
                None => self.text.push_str("null"),
            },
            // big integers and decimals keep their digits when JSON can carry them
            Num::BigInt(_) | Num::Dec(_) => {
                let text = n.to_string();
                if serde_json::from_str::<serde_json::Number>(&text).is_ok() {
                    self.text.push_str(&text);
                } else {
                    self.string(&text);
                }
            }
        }
    }
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
    use jaq_core::load::Error as Load;
    let mut msgs = Vec::new();
    for (_file, err) in errs {
        match err {
            Load::Io(list) => msgs.extend(
                list.into_iter()
                    .map(|(path, e)| format!("cannot import `{path}`: {e}")),
            ),
            Load::Lex(list) => msgs.extend(list.into_iter().map(|(expect, found)| {
                format!("expected {}{}", expect.as_str(), at(filter, found))
            })),
            Load::Parse(list) => msgs.extend(list.into_iter().map(|(expect, found)| {
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
