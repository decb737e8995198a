//! Test results as JUnit XML, the report CI systems read.

use std::fmt::Write as _;

use super::run::SuiteResult;

/// The results as a JUnit XML document: one `testsuite` per test file, a
/// suite that could not run as one failed test named after the file.
pub fn junit(suites: &[SuiteResult]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests: usize = suites
        .iter()
        .map(|s| s.tests.len().max(usize::from(s.error.is_some())))
        .sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.tests.iter().filter(|t| !t.passed).count() + usize::from(s.error.is_some()))
        .sum();
    let _ = writeln!(
        xml,
        "<testsuites name=\"spellhost\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for suite in suites {
        let file = suite.file.display().to_string();
        let time: f64 = suite.tests.iter().map(|t| t.duration.as_secs_f64()).sum();
        let failed = suite.tests.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">",
            escape(&file),
            suite.tests.len() + usize::from(suite.error.is_some()),
            failed,
            usize::from(suite.error.is_some()),
        );
        if let Some(error) = &suite.error {
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                escape(&file),
                escape(&file),
                escape(first_line(error)),
                escape(error)
            );
        }
        for test in &suite.tests {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&test.name),
                escape(&file),
                test.duration.as_secs_f64()
            );
            if test.passed {
                xml.push_str("/>\n");
            } else {
                let body = test.failures.join("\n");
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(first_line(&body)),
                    escape(&body)
                );
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Text safe in XML content and attributes; characters XML 1.0 cannot hold
/// at all become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run::TestResult;
    use std::time::Duration;

    #[test]
    fn junit_holds_passes_failures_and_suites_that_could_not_run() {
        let result = |name: &str, failures: Vec<String>| TestResult {
            name: name.into(),
            passed: failures.is_empty(),
            failures,
            output: None,
            error: None,
            duration: Duration::from_millis(5),
            recorded: None,
        };
        let xml = junit(&[
            SuiteResult {
                file: "a.test.toml".into(),
                spell: "a.lua".into(),
                error: None,
                tests: vec![
                    result("ok <1>", vec![]),
                    result("bad", vec!["output: expected \"x\", got \"y\u{1}\"".into()]),
                ],
            },
            SuiteResult {
                file: "b.test.toml".into(),
                spell: "b.wasm".into(),
                error: Some("reading the spell b.wasm".into()),
                tests: vec![],
            },
        ]);
        assert!(
            xml.contains("<testsuites name=\"spellhost\" tests=\"3\" failures=\"2\">"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"ok &lt;1&gt;\""));
        assert!(xml.contains(
            "<failure message=\"output: expected &quot;x&quot;, got &quot;y\u{FFFD}&quot;\""
        ));
        assert!(xml.contains("<error message=\"reading the spell b.wasm\">"));
    }
}
