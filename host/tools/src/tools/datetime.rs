//! `datetime`: the current time, formatting, parsing, adding durations and
//! differences between instants, with `jiff` (0.2, shared with jaq-std).
//!
//! IANA time zones come from the tz database bundled into the binary
//! (`tzdb-bundle-always`), so results do not depend on the host's
//! `/usr/share/zoneinfo`. Fixed offsets (`+05:30`, `UTC-3`) work too.

use jiff::fmt::strtime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp, Unit, Zoned, ZonedDifference};
use serde_json::{Value, json};

use super::{obj, object_schema, opt_any, opt_str, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `datetime` tool.
pub struct Datetime;

#[async_trait::async_trait]
impl Tool for Datetime {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "datetime".into(),
            description: "Dates and times without guessing: `now` (current time, optionally in a time zone), \
                `format` an instant with a strftime format, `parse` text (RFC 3339, ISO 8601 or a given \
                strftime format) into an instant, `add` a duration (\"3h 20m\", \"2 days\", \"-1 week\", \
                \"P1M\") to an instant, `diff` two instants. Instants are RFC 3339 strings \
                (\"2024-05-01T12:00:00Z\"), \"now\", or Unix seconds. Time zones are IANA names \
                (\"Europe/Paris\") or fixed offsets (\"+05:30\"); the default is UTC."
                .into(),
            parameters: object_schema(
                json!({
                    "operation": {
                        "type": "string",
                        "enum": ["now", "format", "parse", "add", "diff"],
                        "description": "What to do."
                    },
                    "instant": {
                        "type": ["string", "number"],
                        "description": "For format and add: the instant (RFC 3339, \"now\" or Unix seconds; default now)."
                    },
                    "text": {
                        "type": "string",
                        "description": "For parse: the text to parse."
                    },
                    "format": {
                        "type": "string",
                        "description": "For format (required) and parse (optional): a strftime format such as \"%Y-%m-%d %H:%M\" or \"%A %d %B %Y\"."
                    },
                    "timezone": {
                        "type": "string",
                        "description": "IANA name (\"America/New_York\"), \"UTC\" or an offset (\"+02:00\"): the zone to show results in, and to read times that carry no offset. Default UTC."
                    },
                    "duration": {
                        "type": "string",
                        "description": "For add: e.g. \"3h 20m\", \"2 days\", \"1 month 3 days\", \"-90 minutes\" or ISO 8601 \"P1DT2H\"."
                    },
                    "from": {
                        "type": ["string", "number"],
                        "description": "For diff: the start instant."
                    },
                    "to": {
                        "type": ["string", "number"],
                        "description": "For diff: the end instant (default now)."
                    }
                }),
                &["operation"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let op = req_str(&args, "operation")?;
        let tz = match opt_str(&args, "timezone")? {
            Some(name) => parse_tz(name)?,
            None => TimeZone::UTC,
        };
        match op {
            "now" => Ok(describe(&Timestamp::now().to_zoned(tz))),
            "format" => {
                let fmt = opt_str(&args, "format")?.ok_or_else(|| {
                    ToolError::InvalidArguments("`format` is required for format".into())
                })?;
                let z = instant(opt_any(&args, "instant"), &tz, "instant")?;
                let text = strtime::format(fmt, &z)
                    .map_err(|e| ToolError::InvalidArguments(format!("format: {e}")))?;
                Ok(obj([
                    ("text", json!(text)),
                    ("instant", json!(rfc3339(&z))),
                ]))
            }
            "parse" => {
                let text = opt_str(&args, "text")?.ok_or_else(|| {
                    ToolError::InvalidArguments("`text` is required for parse".into())
                })?;
                let z = match opt_str(&args, "format")? {
                    Some(fmt) => parse_with(text, fmt, &tz)?,
                    None => parse_text(text, &tz).ok_or_else(|| {
                        ToolError::InvalidArguments(format!(
                            "cannot parse `{text}` as RFC 3339 or ISO 8601; give a `format` such as \"%d/%m/%Y %H:%M\""
                        ))
                    })?,
                };
                Ok(describe(&z))
            }
            "add" => {
                let d = opt_str(&args, "duration")?.ok_or_else(|| {
                    ToolError::InvalidArguments("`duration` is required for add".into())
                })?;
                let span: Span = d.trim().parse().map_err(|e| {
                    ToolError::InvalidArguments(format!(
                        "duration `{d}`: {e} (try \"3h 20m\", \"2 days\" or \"P1D\")"
                    ))
                })?;
                let z = instant(opt_any(&args, "instant"), &tz, "instant")?;
                let out = z
                    .checked_add(span)
                    .map_err(|e| ToolError::Failed(format!("adding {d}: {e}")))?;
                Ok(describe(&out))
            }
            "diff" => {
                let from = instant(
                    Some(opt_any(&args, "from").ok_or_else(|| {
                        ToolError::InvalidArguments("`from` is required for diff".into())
                    })?),
                    &tz,
                    "from",
                )?;
                let to = instant(opt_any(&args, "to"), &tz, "to")?;
                let seconds = to.duration_since(&from).as_secs_f64();
                let span = to
                    .since(ZonedDifference::new(&from).largest(Unit::Year))
                    .map_err(|e| ToolError::Failed(format!("diff: {e}")))?;
                Ok(obj([
                    ("seconds", json!(seconds)),
                    ("days", json!(seconds / 86_400.0)),
                    ("human", json!(format!("{span:#}"))),
                    ("iso", json!(span.to_string())),
                ]))
            }
            other => Err(ToolError::InvalidArguments(format!(
                "unknown operation `{other}`"
            ))),
        }
    }
}

/// The answer for one instant: in its zone, in UTC and as Unix seconds.
fn describe(z: &Zoned) -> Value {
    obj([
        ("instant", json!(rfc3339(z))),
        ("utc", json!(z.timestamp().to_string())),
        ("unix", json!(z.timestamp().as_second())),
        ("timezone", json!(tz_name(z.time_zone()))),
        ("weekday", json!(format!("{:?}", z.weekday()))),
    ])
}

/// RFC 3339 in the instant's own offset (`Z` for UTC).
fn rfc3339(z: &Zoned) -> String {
    if z.offset() == Offset::UTC {
        z.timestamp().to_string()
    } else {
        z.timestamp().display_with_offset(z.offset()).to_string()
    }
}

fn tz_name(tz: &TimeZone) -> String {
    match tz.iana_name() {
        Some(name) => name.to_string(),
        None => tz
            .to_fixed_offset()
            .map_or_else(|_| "custom".to_string(), |o| o.to_string()),
    }
}

/// An IANA name, `UTC`/`Z`, or a fixed offset like `+05:30`, `-0800`, `UTC+2`.
fn parse_tz(name: &str) -> Result<TimeZone, ToolError> {
    let s = name.trim();
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("gmt")
    {
        return Ok(TimeZone::UTC);
    }
    let offset_part = s
        .strip_prefix("UTC")
        .or_else(|| s.strip_prefix("GMT"))
        .unwrap_or(s);
    if let Some(offset) = parse_offset(offset_part) {
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(s).map_err(|_| {
        ToolError::InvalidArguments(format!(
            "unknown time zone `{name}`; use an IANA name like \"Europe/Paris\" or an offset like \"+02:00\""
        ))
    })
}

fn parse_offset(s: &str) -> Option<Offset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    if h.is_empty()
        || !h.bytes().all(|b| b.is_ascii_digit())
        || !m.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 25 || m > 59 {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

/// An instant argument: missing or "now" is now; a number is Unix seconds;
/// text is parsed like `parse` without a format.
fn instant(v: Option<&Value>, tz: &TimeZone, name: &str) -> Result<Zoned, ToolError> {
    match v {
        None => Ok(Timestamp::now().to_zoned(tz.clone())),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("now") => {
            Ok(Timestamp::now().to_zoned(tz.clone()))
        }
        Some(Value::String(s)) => parse_text(s, tz).ok_or_else(|| {
            ToolError::InvalidArguments(format!(
                "`{name}`: cannot parse `{s}`; use RFC 3339 like \"2024-05-01T12:00:00Z\""
            ))
        }),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            let ts = if secs.fract() == 0.0 {
                Timestamp::from_second(secs as i64)
            } else {
                Timestamp::from_nanosecond((secs * 1e9) as i128)
            };
            ts.map(|ts| ts.to_zoned(tz.clone())).map_err(|e| {
                ToolError::InvalidArguments(format!("`{name}`: {n} is not a valid Unix time: {e}"))
            })
        }
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "`{name}`: expected a string or a number, got {other}"
        ))),
    }
}

/// RFC 3339 / RFC 9557 with an offset or zone, else a civil date-time or
/// date read in `tz`.
fn parse_text(s: &str, tz: &TimeZone) -> Option<Zoned> {
    let s = s.trim();
    if let Ok(z) = s.parse::<Zoned>() {
        return Some(z.with_time_zone(tz.clone()));
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts.to_zoned(tz.clone()));
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(tz.clone()).ok();
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d.to_zoned(tz.clone()).ok();
    }
    None
}

fn parse_with(text: &str, fmt: &str, tz: &TimeZone) -> Result<Zoned, ToolError> {
    let bad = |e: jiff::Error| {
        ToolError::InvalidArguments(format!("cannot parse `{text}` with format `{fmt}`: {e}"))
    };
    let tm = strtime::parse(fmt, text).map_err(bad)?;
    if tm.offset().is_some() || tm.iana_time_zone().is_some() {
        let z = tm.to_zoned().map_err(bad)?;
        return Ok(z.with_time_zone(tz.clone()));
    }
    let dt = match tm.to_datetime() {
        Ok(dt) => dt,
        Err(_) => tm
            .to_date()
            .map_err(bad)?
            .to_datetime(jiff::civil::Time::midnight()),
    };
    dt.to_zoned(tz.clone()).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    #[tokio::test]
    async fn now_in_zones() {
        let out = run(&Datetime, json!({"operation": "now"})).await.unwrap();
        assert!(out["instant"].as_str().unwrap().ends_with('Z'), "{out}");
        assert_eq!(out["timezone"], "UTC");
        let out = run(
            &Datetime,
            json!({"operation": "now", "timezone": "Asia/Kolkata"}),
        )
        .await
        .unwrap();
        assert!(
            out["instant"].as_str().unwrap().ends_with("+05:30"),
            "{out}"
        );
        assert_eq!(out["timezone"], "Asia/Kolkata");
        let out = run(&Datetime, json!({"operation": "now", "timezone": "-03:00"}))
            .await
            .unwrap();
        assert!(
            out["instant"].as_str().unwrap().ends_with("-03:00"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn format_and_parse() {
        let out = run(
            &Datetime,
            json!({"operation": "format", "instant": "2024-03-10T12:30:00Z",
            "format": "%A %d %B %Y %H:%M %Z", "timezone": "Europe/Paris"}),
        )
        .await
        .unwrap();
        assert_eq!(out["text"], "Sunday 10 March 2024 13:30 CET");
        let out = run(
            &Datetime,
            json!({"operation": "format", "instant": 0, "format": "%F"}),
        )
        .await
        .unwrap();
        assert_eq!(out["text"], "1970-01-01");

        let out = run(
            &Datetime,
            json!({"operation": "parse", "text": "2024-07-14T21:14:00+02:00"}),
        )
        .await
        .unwrap();
        assert_eq!(out["utc"], "2024-07-14T19:14:00Z");
        assert_eq!(out["unix"], 1720984440);
        assert_eq!(out["weekday"], "Sunday");
        let out = run(
            &Datetime,
            json!({"operation": "parse", "text": "14/07/2024 21:14",
            "format": "%d/%m/%Y %H:%M", "timezone": "America/New_York"}),
        )
        .await
        .unwrap();
        assert_eq!(out["instant"], "2024-07-14T21:14:00-04:00");
        let out = run(
            &Datetime,
            json!({"operation": "parse", "text": "2024-07-14"}),
        )
        .await
        .unwrap();
        assert_eq!(out["instant"], "2024-07-14T00:00:00Z");
        let out = run(
            &Datetime,
            json!({"operation": "parse", "text": "July 4 2024", "format": "%B %d %Y"}),
        )
        .await
        .unwrap();
        assert_eq!(out["instant"], "2024-07-04T00:00:00Z");
    }

    #[tokio::test]
    async fn add_and_diff() {
        let out = run(&Datetime, json!({"operation": "add", "instant": "2024-01-31T10:00:00Z", "duration": "1 month 3h 20m"}))
            .await
            .unwrap();
        assert_eq!(out["instant"], "2024-02-29T13:20:00Z");
        let out = run(
            &Datetime,
            json!({"operation": "add", "instant": "2024-03-30T12:00:00+01:00",
            "duration": "1 day", "timezone": "Europe/Paris"}),
        )
        .await
        .unwrap();
        // across the DST change a calendar day is 23 hours
        assert_eq!(out["instant"], "2024-03-31T12:00:00+02:00");
        let out = run(
            &Datetime,
            json!({"operation": "add", "instant": "2024-01-01T00:00:00Z", "duration": "-90m"}),
        )
        .await
        .unwrap();
        assert_eq!(out["instant"], "2023-12-31T22:30:00Z");

        let out = run(&Datetime, json!({"operation": "diff", "from": "2024-01-01T00:00:00Z", "to": "2024-03-02T06:00:00Z"}))
            .await
            .unwrap();
        assert_eq!(out["seconds"], 5_292_000.0);
        assert_eq!(out["human"], "2mo 1d 6h");
        assert_eq!(out["iso"], "P2M1DT6H");
    }

    #[tokio::test]
    async fn errors() {
        let err = run(
            &Datetime,
            json!({"operation": "now", "timezone": "Mars/Olympus"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.contains("unknown time zone")),
            "{err:?}"
        );
        let err = run(
            &Datetime,
            json!({"operation": "add", "instant": "now", "duration": "soon"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.starts_with("duration `soon`")),
            "{err:?}"
        );
        let err = run(
            &Datetime,
            json!({"operation": "parse", "text": "yesterday"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(
            &Datetime,
            json!({"operation": "parse", "text": "2024", "format": "%Y-%m"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(&Datetime, json!({"operation": "format", "instant": "now"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(&Datetime, json!({"operation": "diff"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+05:30").unwrap().seconds(), 19800);
        assert_eq!(parse_offset("-0800").unwrap().seconds(), -28800);
        assert_eq!(parse_offset("+2").unwrap().seconds(), 7200);
        assert!(parse_offset("5").is_none());
        assert!(parse_tz("UTC+2").is_ok());
    }
}
