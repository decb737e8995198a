//! `csv_query`: runs one SQL `SELECT` (or `WITH ... SELECT`) over CSV data.
//!
//! The CSV (inline text, or a file read through the call's
//! [`FileGrants`](crate::FileGrants)) is parsed with the `csv` crate and
//! loaded into a fresh in-memory SQLite database (`rusqlite`, bundled) as one
//! table whose column types are inferred (INTEGER, REAL or TEXT; empty cells
//! are NULL). Only a single read-only statement that starts with SELECT or
//! WITH is run; it is interrupted after [`QUERY_TIMEOUT`] and at most
//! [`MAX_ROWS`] rows are returned.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value, json};

use super::{blocking, obj, object_schema, opt_bool, opt_str, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `csv_query` tool.
pub struct CsvQuery;

/// Most rows returned.
pub const MAX_ROWS: usize = 1000;
/// Largest CSV file read from `path`.
pub const MAX_CSV_FILE: u64 = 32 << 20;
/// A query running longer is interrupted.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[async_trait::async_trait]
impl Tool for CsvQuery {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "csv_query".into(),
            description: "Answer questions about CSV data with SQL: the CSV is loaded into a SQLite table \
                (default name `data`, columns named from the header row, types inferred) and one SELECT \
                query runs over it, e.g. `SELECT region, SUM(amount) AS total FROM data GROUP BY region \
                ORDER BY total DESC`. Returns at most 1000 rows as JSON objects. SQLite syntax and \
                functions; quote column names with spaces in double quotes."
                .into(),
            parameters: object_schema(
                json!({
                    "sql": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 20000,
                        "description": "One SELECT (or WITH ... SELECT) statement."
                    },
                    "csv": {
                        "type": "string",
                        "maxLength": 10_000_000,
                        "description": "The CSV text (give this or `path`)."
                    },
                    "path": {
                        "type": "string",
                        "description": "Absolute path of a CSV file in a granted directory (give this or `csv`)."
                    },
                    "table": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 64,
                        "description": "Table name to load the CSV as (default \"data\")."
                    },
                    "has_header": {
                        "type": "boolean",
                        "description": "Whether the first row holds column names (default true); without one, columns are column_1, column_2, ..."
                    },
                    "delimiter": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 1,
                        "description": "Field delimiter (default \",\"; e.g. \";\" or \"\\t\")."
                    }
                }),
                &["sql"],
            ),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let sql = req_str(&args, "sql")?.to_string();
        check_select(&sql)?;
        let table = opt_str(&args, "table")?.unwrap_or("data").to_string();
        if !is_identifier(&table) {
            return Err(ToolError::InvalidArguments(format!(
                "`table`: `{table}` is not a plain name (letters, digits, _)"
            )));
        }
        let has_header = opt_bool(&args, "has_header", true)?;
        let delimiter = match opt_str(&args, "delimiter")? {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => {
                return Err(ToolError::InvalidArguments(format!(
                    "`delimiter` must be one ASCII character, got `{d}`"
                )));
            }
        };
        let data: Vec<u8> = match (opt_str(&args, "csv")?, opt_str(&args, "path")?) {
            (Some(csv), None) => csv.as_bytes().to_vec(),
            (None, Some(path)) => {
                let files = ctx.files.clone();
                let path = PathBuf::from(path);
                blocking(move || files.read(&path, MAX_CSV_FILE)).await?
            }
            _ => {
                return Err(ToolError::InvalidArguments(
                    "give exactly one of `csv` (the text) or `path` (a file)".into(),
                ));
            }
        };
        blocking(move || query(&data, delimiter, has_header, &table, &sql)).await
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Rejects anything but a statement starting with SELECT or WITH (after
/// comments); SQLite itself then rejects several statements and writes.
fn check_select(sql: &str) -> Result<(), ToolError> {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.find('\n').map_or("", |i| &r[i + 1..]).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]).trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if word == "SELECT" || word == "WITH" {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "only a single SELECT or WITH query is allowed, got `{}`",
            if word.is_empty() {
                rest.chars().take(20).collect()
            } else {
                word
            }
        )))
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Integer,
    Real,
    Text,
}

fn query(
    data: &[u8],
    delimiter: u8,
    has_header: bool,
    table: &str,
    sql: &str,
) -> Result<Value, ToolError> {
    // Parse the CSV.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(data);
    let mut records: Vec<csv::StringRecord> = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec =
            rec.map_err(|e| ToolError::InvalidArguments(format!("CSV row {}: {e}", i + 1)))?;
        records.push(rec);
    }
    let header: Vec<String> = if has_header && !records.is_empty() {
        records
            .remove(0)
            .iter()
            .map(|h| h.trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let width = records
        .iter()
        .map(|r| r.len())
        .chain(std::iter::once(header.len()))
        .max()
        .unwrap_or(0);
    if width == 0 {
        return Err(ToolError::InvalidArguments("the CSV has no columns".into()));
    }
    let mut names: Vec<String> = Vec::with_capacity(width);
    for i in 0..width {
        let base = header
            .get(i)
            .filter(|h| !h.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while names.iter().any(|x| x.eq_ignore_ascii_case(&name)) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }

    // Infer column types.
    let mut types = vec![Ty::Integer; width];
    for rec in &records {
        for (i, cell) in rec.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            if types[i] == Ty::Integer && cell.parse::<i64>().is_err() {
                types[i] = Ty::Real;
            }
            if types[i] == Ty::Real && cell.parse::<f64>().is_err() {
                types[i] = Ty::Text;
            }
        }
    }

    // Load.
    let err = |e: rusqlite::Error| ToolError::Failed(format!("loading the CSV: {e}"));
    let mut conn = Connection::open_in_memory().map_err(err)?;
    // Bound what a query can allocate: no string or blob over 16 MiB
    // (`zeroblob(1e9)`, runaway `group_concat`), at most 64 MiB of pages.
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, 16 << 20)
        .map_err(err)?;
    conn.execute_batch("PRAGMA max_page_count = 16384;")
        .map_err(err)?;
    let cols: Vec<String> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| {
            let ty = match t {
                Ty::Integer => "INTEGER",
                Ty::Real => "REAL",
                Ty::Text => "TEXT",
            };
            format!("{} {ty}", quote_ident(n))
        })
        .collect();
    conn.execute(
        &format!("CREATE TABLE {} ({})", quote_ident(table), cols.join(", ")),
        [],
    )
    .map_err(err)?;
    {
        let tx = conn.transaction().map_err(err)?;
        {
            let placeholders = vec!["?"; width].join(", ");
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO {} VALUES ({placeholders})",
                    quote_ident(table)
                ))
                .map_err(err)?;
            for rec in &records {
                let row: Vec<Sql> = (0..width)
                    .map(|i| {
                        let cell = rec.get(i).unwrap_or("");
                        let trimmed = cell.trim();
                        if trimmed.is_empty() {
                            return Sql::Null;
                        }
                        match types[i] {
                            Ty::Integer => trimmed.parse().map_or(Sql::Null, Sql::Integer),
                            Ty::Real => trimmed.parse().map_or(Sql::Null, Sql::Real),
                            Ty::Text => Sql::Text(cell.to_string()),
                        }
                    })
                    .collect();
                insert
                    .execute(rusqlite::params_from_iter(row))
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
    }

    // Query, with a watchdog that interrupts a runaway statement.
    let mut stmt = conn.prepare(sql).map_err(|e| {
        let msg = match e {
            rusqlite::Error::MultipleStatement => "only a single statement is allowed".to_string(),
            other => other.to_string(),
        };
        ToolError::InvalidArguments(format!(
            "sql: {msg} (the table is {} with columns {})",
            quote_ident(table),
            names
                .iter()
                .map(|n| quote_ident(n))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if !stmt.readonly() {
        return Err(ToolError::InvalidArguments(
            "only read-only SELECT queries are allowed".into(),
        ));
    }
    let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let (done, watchdog) = mpsc::channel::<()>();
    let interrupt = conn.get_interrupt_handle();
    let timer = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = watchdog.recv_timeout(QUERY_TIMEOUT) {
            interrupt.interrupt();
        }
    });
    let result = collect_rows(&mut stmt, &columns);
    let _ = done.send(());
    let _ = timer.join();
    let (rows, truncated) = result.map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            ToolError::Failed(format!(
                "the query ran longer than {} s and was stopped",
                QUERY_TIMEOUT.as_secs()
            ))
        }
        other => ToolError::Failed(format!("sql: {other}")),
    })?;
    Ok(obj([
        ("columns", json!(columns)),
        ("row_count", json!(rows.len())),
        ("truncated", json!(truncated)),
        ("rows", Value::Array(rows)),
    ]))
}

fn collect_rows(
    stmt: &mut rusqlite::Statement<'_>,
    columns: &[String],
) -> rusqlite::Result<(Vec<Value>, bool)> {
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() == MAX_ROWS {
            return Ok((out, true));
        }
        let mut m = Map::new();
        for (i, name) in columns.iter().enumerate() {
            let v: Sql = row.get(i)?;
            let v = match v {
                Sql::Null => Value::Null,
                Sql::Integer(i) => json!(i),
                Sql::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
                Sql::Text(s) => Value::String(s),
                Sql::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            };
            m.insert(name.clone(), v);
        }
        out.push(Value::Object(m));
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileGrants;
    use crate::tools::testing::{run, run_in};

    const SALES: &str =
        "region,amount,item name\nnorth,10,a\nsouth,2.5,b\nnorth,5,\"c, d\"\neast,,e\n";

    #[tokio::test]
    async fn select_with_inferred_types() {
        let out = run(&CsvQuery, json!({"csv": SALES,
            "sql": "SELECT region, SUM(amount) AS total FROM data GROUP BY region ORDER BY total DESC"}))
            .await
            .unwrap();
        assert_eq!(out["columns"], json!(["region", "total"]));
        assert_eq!(
            out["rows"],
            json!([{"region": "north", "total": 15.0}, {"region": "south", "total": 2.5}, {"region": "east", "total": null}])
        );
        let out = run(
            &CsvQuery,
            json!({"csv": SALES, "sql": "SELECT \"item name\" FROM data WHERE amount IS NULL"}),
        )
        .await
        .unwrap();
        assert_eq!(out["rows"], json!([{"item name": "e"}]));
        let out = run(&CsvQuery, json!({"csv": "1;x\n2;y\n", "has_header": false, "delimiter": ";", "table": "t",
            "sql": "-- comment\nWITH s AS (SELECT * FROM t) SELECT column_1 * 2 AS d, typeof(column_1) AS ty FROM s"}))
            .await
            .unwrap();
        assert_eq!(
            out["rows"],
            json!([{"d": 2, "ty": "integer"}, {"d": 4, "ty": "integer"}])
        );
    }

    #[tokio::test]
    async fn rows_are_capped() {
        let mut csv = String::from("n\n");
        for i in 0..1500 {
            csv.push_str(&format!("{i}\n"));
        }
        let out = run(&CsvQuery, json!({"csv": csv, "sql": "SELECT n FROM data"}))
            .await
            .unwrap();
        assert_eq!(out["row_count"], 1000);
        assert_eq!(out["truncated"], true);
    }

    #[tokio::test]
    async fn queries_cannot_allocate_without_bound() {
        for sql in [
            "SELECT length(zeroblob(1000000000)) FROM data",
            "WITH RECURSIVE r(x) AS (SELECT 'aaaaaaaa' UNION ALL SELECT x || x FROM r) SELECT length(x) FROM r",
        ] {
            let err = run(&CsvQuery, json!({"csv": SALES, "sql": sql}))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("too big"), "{sql}: {err}");
        }
    }

    #[tokio::test]
    async fn only_one_select() {
        for sql in [
            "DELETE FROM data",
            "DROP TABLE data",
            "SELECT 1; DROP TABLE data",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "PRAGMA table_info(data)",
            "/* sneaky */ INSERT INTO data VALUES (1, 2, 3)",
            "WITH x AS (SELECT 1) DELETE FROM data",
        ] {
            let err = run(&CsvQuery, json!({"csv": SALES, "sql": sql}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::InvalidArguments(_)),
                "{sql}: {err:?}"
            );
        }
        let err = run(
            &CsvQuery,
            json!({"csv": SALES, "sql": "SELECT nope FROM data"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.contains("no such column") && m.contains("\"region\"")),
            "{err:?}"
        );
        let err = run(&CsvQuery, json!({"sql": "SELECT 1"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(
            &CsvQuery,
            json!({"csv": "a", "sql": "SELECT 1", "table": "x; drop"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }

    #[tokio::test]
    async fn reads_a_granted_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("s.csv"), SALES).unwrap();
        let ctx = ToolContext {
            files: FileGrants::new(&[tmp.path().to_path_buf()], &[]).unwrap(),
            ..Default::default()
        };
        let path = tmp.path().join("s.csv").to_string_lossy().into_owned();
        let out = run_in(
            &CsvQuery,
            &ctx,
            json!({"path": path, "sql": "SELECT COUNT(*) AS n FROM data"}),
        )
        .await
        .unwrap();
        assert_eq!(out["rows"], json!([{"n": 4}]));
        let err = run(&CsvQuery, json!({"path": path, "sql": "SELECT 1"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Denied(_)));
    }
}
