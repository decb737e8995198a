//! Lua values ↔ JSON, faithfully:
//!
//! - a table whose keys are exactly 1..n is an array; a table with
//!   string keys is an object; an empty table is an object unless it
//!   carries `json.array`'s metatable (arrays that came from JSON keep it,
//!   so `[]` round-trips as `[]`);
//! - integers stay integers and floats stay floats (`1.0` → `1.0`);
//! - JSON `null` is `json.null` (a table cannot hold `nil`); a `nil` hole
//!   in an array (`{1, nil, 3}`) is `null`;
//! - anything else (functions, coroutines, mixed or very sparse tables,
//!   NaN) is an error that names where in the value it is.

use mlua::{Lua, LuaSerdeExt, Table, Value};
use serde_json::{Map, Number, Value as Json};

const MAX_DEPTH: usize = 128;

pub fn to_json(lua: &Lua, value: Value) -> mlua::Result<Json> {
    encode(lua, &value, "value", 0).map_err(mlua::Error::runtime)
}

fn encode(lua: &Lua, value: &Value, path: &str, depth: usize) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{path}: nested too deeply (or a table contains itself)"
        ));
    }
    Ok(match value {
        Value::Nil => Json::Null,
        Value::LightUserData(ud) if ud.0.is_null() => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Number(n) => Json::Number(
            Number::from_f64(*n)
                .ok_or_else(|| format!("{path}: {n} has no JSON representation"))?,
        ),
        Value::String(s) => Json::String(
            s.to_str()
                .map_err(|_| format!("{path}: the string is not UTF-8"))?
                .to_string(),
        ),
        Value::Table(t) => encode_table(lua, t, path, depth)?,
        other => {
            return Err(format!(
                "{path}: a {} cannot be converted to JSON",
                other.type_name()
            ));
        }
    })
}

fn encode_table(lua: &Lua, t: &Table, path: &str, depth: usize) -> Result<Json, String> {
    let is_array_marked = t.metatable().is_some_and(|mt| mt == lua.array_metatable());
    let mut ints: Vec<(i64, Value)> = Vec::new();
    let mut strings: Vec<(String, Value)> = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| format!("{path}: {e}"))?;
        match k {
            Value::Integer(i) => ints.push((i, v)),
            Value::String(s) => strings.push((
                s.to_str()
                    .map_err(|_| format!("{path}: a key is not UTF-8"))?
                    .to_string(),
                v,
            )),
            other => {
                return Err(format!(
                    "{path}: a {} key cannot be converted to JSON",
                    other.type_name()
                ));
            }
        }
    }
    if strings.is_empty() && (is_array_marked || !ints.is_empty()) {
        // Compare in i64: Lua keys are 64-bit, wasm32's usize is not.
        let max = ints.iter().map(|(i, _)| *i).max().unwrap_or(0);
        let dense = (ints.len().max(1) as i64).saturating_mul(2);
        if ints.iter().all(|(i, _)| *i >= 1) && max <= dense {
            let mut items = vec![Json::Null; max as usize];
            for (i, v) in &ints {
                items[(*i - 1) as usize] = encode(lua, v, &format!("{path}[{i}]"), depth + 1)?;
            }
            return Ok(Json::Array(items));
        }
        return Err(format!(
            "{path}: a table with keys like [{}] is neither a list (1..n) nor a map",
            ints[0].0
        ));
    }
    if !ints.is_empty() {
        return Err(format!(
            "{path}: the table mixes list items and named keys; JSON needs one or the other"
        ));
    }
    let mut map = Map::new();
    strings.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in strings {
        let json = encode(lua, &v, &format!("{path}.{k}"), depth + 1)?;
        map.insert(k, json);
    }
    Ok(Json::Object(map))
}

pub fn from_json(lua: &Lua, value: &Json) -> mlua::Result<Value> {
    Ok(match value {
        Json::Null => Value::NULL,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, item)?)?;
            }
            t.set_metatable(Some(lua.array_metatable()))?;
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

pub fn null() -> Value {
    Value::NULL
}
