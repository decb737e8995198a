//! `template`: renders a Jinja2-style template with a JSON context using
//! `minijinja` (features: builtins, serde, json, fuel; no macros, includes or
//! loaders, so a template cannot read files).
//!
//! Undefined values are "semi-strict": printing or iterating one is an error
//! naming the line, while `{% if x %}` on a missing `x` is simply false.
//! Rendering is bounded by minijinja's fuel and the output by [`MAX_OUTPUT`].

use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Value, json};

use super::{obj, object_schema, opt_any, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `template` tool.
pub struct Template;

/// Instruction budget for one render (roughly instructions; see minijinja's `set_fuel`).
const FUEL: u64 = 1_000_000;
/// Largest rendered output, in bytes.
pub const MAX_OUTPUT: usize = 1 << 20;

#[async_trait::async_trait]
impl Tool for Template {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "template".into(),
            description: "Render a Jinja2 template (minijinja) with JSON data, e.g. to fill a report or a \
                message from structured results. Supports {{ var }}, {{ x | upper }}, {% for %}, {% if %}, \
                filters like join, default, round, length, sort, tojson. Printing an undefined variable is an \
                error naming the line."
                .into(),
            parameters: object_schema(
                json!({
                    "template": {
                        "type": "string",
                        "maxLength": 200_000,
                        "description": "The template source, e.g. \"Hello {{ name }}! {% for i in items %}- {{ i }}\\n{% endfor %}\"."
                    },
                    "context": {
                        "type": "object",
                        "description": "The variables the template sees (default: none)."
                    }
                }),
                &["template"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let source = req_str(&args, "template")?;
        let context = opt_any(&args, "context")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let text = render(source, &context)?;
        Ok(obj([("text", json!(text))]))
    }
}

/// Renders `source` with `context`.
pub fn render(source: &str, context: &Value) -> Result<String, ToolError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(FUEL));
    let out = env
        .render_str(source, minijinja::Value::from(Serde(context)))
        .map_err(|e| {
            let mut msg = match e.detail() {
                Some(d) => format!("{}: {d}", e.kind()),
                None => e.kind().to_string(),
            };
            if let Some(line) = e.line() {
                msg.push_str(&format!(" (line {line})"));
            }
            if e.kind() == ErrorKind::SyntaxError {
                ToolError::InvalidArguments(format!("template {msg}"))
            } else {
                ToolError::Failed(format!("template {msg}"))
            }
        })?;
    if out.len() > MAX_OUTPUT {
        return Err(ToolError::Failed(format!(
            "the rendered template is {} bytes; at most {} are allowed",
            out.len(),
            crate::fs::human_size(MAX_OUTPUT as u64)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    #[tokio::test]
    async fn renders_with_context() {
        let out = run(
            &Template,
            json!({
                "template": "Hi {{ name | upper }}!\n{% for i in items %}- {{ i.n }}: {{ i.v | round(1) }}\n{% endfor %}{% if missing %}x{% endif %}total={{ items | length }} {{ items[0] | tojson }}",
                "context": {"name": "ada", "items": [{"n": "a", "v": 1.25}, {"n": "b", "v": 2}]}
            }),
        )
        .await
        .unwrap();
        assert_eq!(
            out["text"],
            "Hi ADA!\n- a: 1.2\n- b: 2\ntotal=2 {\"n\": \"a\", \"v\": 1.25}"
        );
        let out = run(&Template, json!({"template": "plain"})).await.unwrap();
        assert_eq!(out["text"], "plain");
    }

    #[tokio::test]
    async fn errors_show_the_line() {
        let err = run(
            &Template,
            json!({"template": "ok\n{% for x in y %}\nno end"}),
        )
        .await
        .unwrap_err();
        let ToolError::InvalidArguments(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.starts_with("template syntax error"), "{msg}");
        assert!(msg.contains("(line "), "{msg}");

        let err = run(
            &Template,
            json!({"template": "a\nb\n{{ nope }}", "context": {}}),
        )
        .await
        .unwrap_err();
        let ToolError::Failed(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(msg.starts_with("template undefined value"), "{msg}");
        assert!(msg.ends_with("(line 3)"), "{msg}");

        let err = run(&Template, json!({"template": "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("fuel")),
            "{err:?}"
        );
    }
}
