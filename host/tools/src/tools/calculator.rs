//! `calculator`: evaluates an arithmetic expression.
//!
//! A small hand-written recursive-descent evaluator rather than a crate:
//! the grammar is tiny (about 200 lines with errors that carry the column),
//! it cannot loop or allocate without bound, and the obvious crate
//! (`evalexpr`) is AGPL-3.0 from version 12 on, which does not fit this
//! Apache-2.0 project. Numbers are `f64`; whole results come back as JSON
//! integers.
//!
//! Grammar (lowest to highest precedence):
//! `expr = term (("+" | "-") term)*`,
//! `term = unary (("*" | "/" | "%") unary)*`,
//! `unary = ("-" | "+") unary | power`,
//! `power = primary (("^" | "**") unary)?` (right-associative, so `-2^2 = -4`),
//! `primary = number | constant | function "(" expr ("," expr)* ")" | "(" expr ")"`.

use serde_json::{Value, json};

use super::{obj, object_schema, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `calculator` tool.
pub struct Calculator;

const FUNCTIONS: &[&str] = &[
    "sqrt", "abs", "ln", "log10", "log2", "exp", "sin", "cos", "tan", "asin", "acos", "atan",
    "min", "max", "round", "floor", "ceil",
];

#[async_trait::async_trait]
impl Tool for Calculator {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "calculator".into(),
            description: "Evaluate an arithmetic expression exactly instead of doing mental math. \
                Supports + - * / % ^ (power), parentheses, unary minus, the functions sqrt, abs, \
                ln, log10, log2, exp, sin, cos, tan, asin, acos, atan (radians), min, max, \
                round (optionally round(x, digits)), floor, ceil, and the constants pi and e. \
                Example: \"2 * (3 + 4) ^ 2 / sqrt(16)\"."
                .into(),
            parameters: object_schema(
                json!({
                    "expression": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 2000,
                        "description": "The expression to evaluate, e.g. \"(1 + 2) * 3 ^ 2\"."
                    }
                }),
                &["expression"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let expression = req_str(&args, "expression")?;
        let x = evaluate(expression)?;
        Ok(obj([("result", number(x))]))
    }
}

/// A JSON number, as an integer when the value is whole and exact.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Evaluates `src`; errors carry the 1-based character position.
pub fn evaluate(src: &str) -> Result<f64, ToolError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let value = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(syntax(t.pos, format!("unexpected {}", t.kind.describe())));
    }
    if !value.is_finite() {
        return Err(ToolError::Failed(
            "the result is not a finite number (overflow or undefined operation)".into(),
        ));
    }
    // -0 reads oddly
    Ok(if value == 0.0 { 0.0 } else { value })
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Num(f64),
    Ident(String),
    Op(char),
    Pow,
    LParen,
    RParen,
    Comma,
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Num(n) => format!("number {n}"),
            Kind::Ident(s) => format!("`{s}`"),
            Kind::Op(c) => format!("`{c}`"),
            Kind::Pow => "`**`".into(),
            Kind::LParen => "`(`".into(),
            Kind::RParen => "`)`".into(),
            Kind::Comma => "`,`".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// 1-based character column.
    pos: usize,
}

fn syntax(pos: usize, msg: String) -> ToolError {
    ToolError::InvalidArguments(format!("{msg} at position {pos}"))
}

fn lex(src: &str) -> Result<Vec<Token>, ToolError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            // exponent: 1e3, 2.5E-4
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n: f64 = text
                .parse()
                .map_err(|_| syntax(pos, format!("invalid number `{text}`")))?;
            out.push(Token {
                kind: Kind::Num(n),
                pos,
            });
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect::<String>().to_lowercase();
            out.push(Token {
                kind: Kind::Ident(name),
                pos,
            });
            continue;
        }
        let kind = match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Kind::Pow
            }
            '^' => Kind::Pow,
            '+' | '-' | '*' | '/' | '%' => Kind::Op(c),
            '×' => Kind::Op('*'),
            '÷' => Kind::Op('/'),
            '−' => Kind::Op('-'),
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            other => return Err(syntax(pos, format!("unexpected character `{other}`"))),
        };
        out.push(Token { kind, pos });
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 200;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Position just past the end, for "unexpected end" errors.
    fn end_pos(&self) -> usize {
        self.tokens.last().map_or(1, |t| t.pos + 1)
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<Token, ToolError> {
        match self.next() {
            Some(t) if t.kind == kind => Ok(t),
            Some(t) => Err(syntax(
                t.pos,
                format!("expected {what}, found {}", t.kind.describe()),
            )),
            None => Err(syntax(
                self.end_pos(),
                format!("expected {what}, found the end of the expression"),
            )),
        }
    }

    /// Counts one level of recursion; errors past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ToolError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.peek().map_or(self.end_pos(), |t| t.pos);
            return Err(syntax(pos, "expression nested too deeply".into()));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, ToolError> {
        self.enter()?;
        let mut acc = self.term()?;
        while let Some(Token {
            kind: Kind::Op(op @ ('+' | '-')),
            ..
        }) = self.peek().cloned()
        {
            self.pos += 1;
            let rhs = self.term()?;
            acc = if op == '+' { acc + rhs } else { acc - rhs };
        }
        self.depth -= 1;
        Ok(acc)
    }

    fn term(&mut self) -> Result<f64, ToolError> {
        let mut acc = self.unary()?;
        while let Some(Token {
            kind: Kind::Op(op @ ('*' | '/' | '%')),
            pos,
        }) = self.peek().cloned()
        {
            self.pos += 1;
            let rhs = self.unary()?;
            acc = match op {
                '*' => acc * rhs,
                _ if rhs == 0.0 => {
                    let what = if op == '/' { "division" } else { "remainder" };
                    return Err(ToolError::Failed(format!(
                        "{what} by zero at position {pos}"
                    )));
                }
                '/' => acc / rhs,
                _ => acc % rhs,
            };
        }
        Ok(acc)
    }

    fn unary(&mut self) -> Result<f64, ToolError> {
        self.enter()?;
        let v = match self.peek().map(|t| &t.kind) {
            Some(Kind::Op('-')) => {
                self.pos += 1;
                self.unary().map(|v| -v)
            }
            Some(Kind::Op('+')) => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        };
        self.depth -= 1;
        v
    }

    fn power(&mut self) -> Result<f64, ToolError> {
        let base = self.primary()?;
        if let Some(Token {
            kind: Kind::Pow, ..
        }) = self.peek()
        {
            self.pos += 1;
            let exp = self.unary()?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, ToolError> {
        let Some(t) = self.next() else {
            return Err(syntax(
                self.end_pos(),
                "expected a number, found the end of the expression".into(),
            ));
        };
        match t.kind {
            Kind::Num(n) => Ok(n),
            Kind::LParen => {
                let v = self.expr()?;
                self.expect(Kind::RParen, "`)`")?;
                Ok(v)
            }
            Kind::Ident(name) => {
                if !matches!(
                    self.peek(),
                    Some(Token {
                        kind: Kind::LParen,
                        ..
                    })
                ) {
                    return match name.as_str() {
                        "pi" | "π" => Ok(std::f64::consts::PI),
                        "e" => Ok(std::f64::consts::E),
                        "tau" => Ok(std::f64::consts::TAU),
                        _ if FUNCTIONS.contains(&name.as_str()) => Err(syntax(
                            t.pos,
                            format!("`{name}` is a function; call it like {name}(x)"),
                        )),
                        _ => Err(syntax(
                            t.pos,
                            format!("unknown name `{name}` (constants: pi, e)"),
                        )),
                    };
                }
                self.pos += 1; // (
                let mut args = vec![self.expr()?];
                while let Some(Token {
                    kind: Kind::Comma, ..
                }) = self.peek()
                {
                    self.pos += 1;
                    args.push(self.expr()?);
                }
                self.expect(Kind::RParen, "`,` or `)`")?;
                call(&name, &args, t.pos)
            }
            other => Err(syntax(
                t.pos,
                format!("expected a number, found {}", other.describe()),
            )),
        }
    }
}

fn call(name: &str, args: &[f64], pos: usize) -> Result<f64, ToolError> {
    let arity = |want: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(syntax(
                pos,
                format!("`{name}` takes {want}, got {}", args.len()),
            ))
        }
    };
    let undefined = |why: &str| {
        Err(ToolError::Failed(format!(
            "`{name}` is undefined for {why} at position {pos}"
        )))
    };
    match name {
        "min" | "max" => {
            arity("at least one argument", !args.is_empty())?;
            let it = args.iter().copied();
            Ok(if name == "min" {
                it.fold(f64::INFINITY, f64::min)
            } else {
                it.fold(f64::NEG_INFINITY, f64::max)
            })
        }
        "round" => {
            arity("one or two arguments", (1..=2).contains(&args.len()))?;
            let digits = args.get(1).copied().unwrap_or(0.0);
            if digits.fract() != 0.0 || digits.abs() > 15.0 {
                return Err(syntax(
                    pos,
                    "round's digits must be a whole number from -15 to 15".into(),
                ));
            }
            let scale = 10f64.powi(digits as i32);
            Ok((args[0] * scale).round() / scale)
        }
        _ => {
            arity("one argument", args.len() == 1)?;
            let x = args[0];
            match name {
                "sqrt" if x < 0.0 => undefined("negative numbers"),
                "ln" | "log10" | "log2" if x <= 0.0 => undefined("numbers <= 0"),
                "asin" | "acos" if !(-1.0..=1.0).contains(&x) => {
                    undefined("numbers outside [-1, 1]")
                }
                "sqrt" => Ok(x.sqrt()),
                "abs" => Ok(x.abs()),
                "ln" => Ok(x.ln()),
                "log10" => Ok(x.log10()),
                "log2" => Ok(x.log2()),
                "exp" => Ok(x.exp()),
                "sin" => Ok(x.sin()),
                "cos" => Ok(x.cos()),
                "tan" => Ok(x.tan()),
                "asin" => Ok(x.asin()),
                "acos" => Ok(x.acos()),
                "atan" => Ok(x.atan()),
                "floor" => Ok(x.floor()),
                "ceil" => Ok(x.ceil()),
                _ => Err(syntax(
                    pos,
                    format!(
                        "unknown function `{name}` (known: {})",
                        FUNCTIONS.join(", ")
                    ),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    fn ev(s: &str) -> f64 {
        evaluate(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn arithmetic() {
        assert_eq!(ev("1 + 2 * 3"), 7.0);
        assert_eq!(ev("(1 + 2) * 3"), 9.0);
        assert_eq!(ev("2 ^ 3 ^ 2"), 512.0);
        assert_eq!(ev("-2 ^ 2"), -4.0);
        assert_eq!(ev("2 ^ -1"), 0.5);
        assert_eq!(ev("2 ** 10"), 1024.0);
        assert_eq!(ev("10 % 4"), 2.0);
        assert_eq!(ev("--3"), 3.0);
        assert_eq!(ev("7 / 2"), 3.5);
        assert_eq!(ev("1e3 + .5"), 1000.5);
        assert_eq!(ev("1_000 * 2"), 2000.0);
        assert_eq!(ev("8 - 3 - 2"), 3.0);
        assert_eq!(ev("-0"), 0.0);
    }

    #[test]
    fn functions_and_constants() {
        assert_eq!(ev("sqrt(16) + abs(-2)"), 6.0);
        assert_eq!(ev("max(1, 5, 3) - min(4, 2)"), 3.0);
        assert_eq!(ev("round(2.5) + floor(1.9) + ceil(1.1)"), 6.0);
        assert_eq!(ev("round(2.71828, 2)"), 2.72);
        assert_eq!(ev("log10(1000)"), 3.0);
        assert_eq!(ev("ln(e)"), 1.0);
        assert!((ev("sin(pi / 2)") - 1.0).abs() < 1e-12);
        assert!((ev("cos(0) + tan(0)") - 1.0).abs() < 1e-12);
        assert_eq!(ev("PI"), std::f64::consts::PI);
    }

    #[test]
    fn errors_carry_positions() {
        assert_eq!(
            evaluate("1 / (2 - 2)").unwrap_err(),
            ToolError::Failed("division by zero at position 3".into())
        );
        assert_eq!(
            evaluate("5 % 0").unwrap_err(),
            ToolError::Failed("remainder by zero at position 3".into())
        );
        assert_eq!(
            evaluate("1 + * 2").unwrap_err(),
            ToolError::InvalidArguments("expected a number, found `*` at position 5".into())
        );
        assert_eq!(
            evaluate("(1 + 2").unwrap_err(),
            ToolError::InvalidArguments(
                "expected `)`, found the end of the expression at position 7".into()
            )
        );
        assert_eq!(
            evaluate("1 2").unwrap_err(),
            ToolError::InvalidArguments("unexpected number 2 at position 3".into())
        );
        assert_eq!(
            evaluate("2 $ 3").unwrap_err(),
            ToolError::InvalidArguments("unexpected character `$` at position 3".into())
        );
        assert!(
            matches!(evaluate("foo(1)"), Err(ToolError::InvalidArguments(m)) if m.contains("unknown function `foo`"))
        );
        assert!(
            matches!(evaluate("x + 1"), Err(ToolError::InvalidArguments(m)) if m.contains("unknown name `x`"))
        );
        assert!(
            matches!(evaluate("sqrt(-1)"), Err(ToolError::Failed(m)) if m.contains("negative"))
        );
        assert!(
            matches!(evaluate("sqrt(1, 2)"), Err(ToolError::InvalidArguments(m)) if m.contains("takes one argument"))
        );
        assert!(matches!(evaluate("10 ^ 400"), Err(ToolError::Failed(_))));
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(
            matches!(evaluate(&deep), Err(ToolError::InvalidArguments(m)) if m.contains("nested too deeply"))
        );
        let deep = format!("{}1", "-".repeat(500));
        assert!(
            matches!(evaluate(&deep), Err(ToolError::InvalidArguments(m)) if m.contains("nested too deeply"))
        );
        let deep = format!("2{}", "^2".repeat(500));
        assert!(
            matches!(evaluate(&deep), Err(ToolError::InvalidArguments(m)) if m.contains("nested too deeply"))
        );
    }

    #[tokio::test]
    async fn tool_returns_integers_when_whole() {
        let out = run(&Calculator, json!({"expression": "6 * 7"}))
            .await
            .unwrap();
        assert_eq!(out, json!({"result": 42}));
        let out = run(&Calculator, json!({"expression": "1 / 4"}))
            .await
            .unwrap();
        assert_eq!(out, json!({"result": 0.25}));
        let err = run(&Calculator, json!({"expression": "1/0"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::Failed("division by zero at position 2".into())
        );
    }
}
