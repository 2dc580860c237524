//! The Singer specification (singer.io): the messages a tap writes, one JSON object per
//! line, and the mapping that turns a tap's records into rows of laer's import kinds.
//!
//! A tap writes `SCHEMA` (a stream's JSON Schema and key properties), `RECORD` (one
//! record of a stream), `STATE` (where the tap got to, to be handed back on its next
//! run) and `ACTIVATE_VERSION` (a full copy of a stream is complete). Reading a line is
//! [`parse_message`]; what laer makes of a record is [`mapping`].

pub mod convert;
pub mod mapping;
pub mod sync;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One message of a tap's output.
#[derive(Debug, Clone)]
pub enum Message {
    /// A stream's JSON Schema; records of the stream follow it.
    Schema {
        stream: String,
        schema: Value,
        /// The fields that identify a record of the stream (may be empty).
        key_properties: Vec<String>,
    },
    /// A record, kept as its JSON text (an object) until it is mapped: [`fields`] reads it.
    Record { stream: String, record: Box<RawValue> },
    /// Where the tap got to: kept once every record before it is written.
    State { value: Value },
    /// Every record of `stream` in `version` has been sent.
    ActivateVersion { stream: String, version: i64 },
}

/// Why a line is not a Singer message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not a JSON object: {0}")]
    Json(#[source] serde_json::Error),
    #[error("a message needs a \"type\" (SCHEMA, RECORD, STATE or ACTIVATE_VERSION)")]
    NoType,
    #[error("unknown message type {0:?}; expected SCHEMA, RECORD, STATE or ACTIVATE_VERSION")]
    UnknownType(String),
    #[error(
        "BATCH messages (record files written by the Meltano SDK's batch mode) are not read: run the tap without `batch_config`"
    )]
    Batch,
    #[error("a {kind} message needs {field}")]
    Missing { kind: &'static str, field: &'static str },
}

/// The fields of any message, read in one pass; which ones a type needs is checked after.
#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    stream: Option<String>,
    record: Option<Box<RawValue>>,
    schema: Option<Value>,
    #[serde(default)]
    key_properties: Option<Vec<String>>,
    value: Option<Value>,
    version: Option<i64>,
}

/// Reads one line of a tap's output.
pub fn parse_message(line: &str) -> Result<Message, MessageError> {
    let raw: Raw = serde_json::from_str(line).map_err(MessageError::Json)?;
    let kind = raw.kind.ok_or(MessageError::NoType)?;
    let missing = |kind, field| MessageError::Missing { kind, field };
    Ok(match kind.as_str() {
        "RECORD" => Message::Record {
            stream: raw.stream.ok_or(missing("RECORD", "a \"stream\""))?,
            record: raw
                .record
                .filter(|r| r.get().trim_start().starts_with('{'))
                .ok_or(missing("RECORD", "a \"record\" object"))?,
        },
        "SCHEMA" => Message::Schema {
            stream: raw.stream.ok_or(missing("SCHEMA", "a \"stream\""))?,
            schema: raw.schema.ok_or(missing("SCHEMA", "a \"schema\""))?,
            key_properties: raw.key_properties.unwrap_or_default(),
        },
        "STATE" => Message::State {
            value: raw.value.ok_or(missing("STATE", "a \"value\""))?,
        },
        "ACTIVATE_VERSION" => Message::ActivateVersion {
            stream: raw.stream.ok_or(missing("ACTIVATE_VERSION", "a \"stream\""))?,
            version: raw.version.ok_or(missing("ACTIVATE_VERSION", "a \"version\" number"))?,
        },
        "BATCH" => return Err(MessageError::Batch),
        _ => return Err(MessageError::UnknownType(kind)),
    })
}

/// A record's fields, read from its text.
pub fn fields(record: &RawValue) -> Result<Map<String, Value>, MessageError> {
    serde_json::from_str(record.get()).map_err(MessageError::Json)
}

/// The text of a record's fields `keys` (its stream's key properties), which identifies
/// it among the stream's records: equal for two records with equal keys. `None` when the
/// record has none of them (each missing or null): such a record is identified by
/// nothing, and stands on its own.
pub fn key_of(record: &RawValue, keys: &[String]) -> Result<Option<String>, MessageError> {
    let fields: std::collections::HashMap<std::borrow::Cow<'_, str>, &RawValue> =
        serde_json::from_str(record.get()).map_err(MessageError::Json)?;
    let mut key = String::new();
    let mut any = false;
    for name in keys {
        let value = fields.get(name.as_str()).map_or("null", |v| v.get());
        any |= value != "null";
        key.push_str(value);
        key.push('\u{1f}');
    }
    Ok(any.then_some(key))
}

/// The value at `path` in a record: keys separated by dots, `[n]` for an array's nth
/// element (`properties.name.value`, `emails[0].address`). `None` where any step is
/// missing.
pub fn lookup<'a>(record: &'a Map<String, Value>, path: &Path) -> Option<&'a Value> {
    let mut steps = path.steps.iter();
    let mut here = match steps.next()? {
        Step::Key(key) => record.get(key)?,
        Step::Index(_) => return None,
    };
    for step in steps {
        here = match step {
            Step::Key(key) => here.as_object()?.get(key)?,
            Step::Index(i) => here.as_array()?.get(*i)?,
        };
    }
    Some(here)
}

/// A path into a record, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Path {
    /// Parses `a.b[0].c`; a key may hold any character but `.` and `[`.
    pub fn parse(text: &str) -> Result<Path, String> {
        let bad = |why: &str| format!("path {text:?}: {why}");
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if key.is_empty() {
                return Err(bad("every step needs a key (write a.b[0], not a..b or .a)"));
            }
            steps.push(Step::Key(key.to_string()));
            if !rest.is_empty() {
                rest = rest.strip_suffix(']').ok_or_else(|| bad("an index is written [n]"))?;
                for index in rest.split("][") {
                    let n = index
                        .parse::<usize>()
                        .map_err(|_| bad("an index is a whole number, [0] or more"))?;
                    steps.push(Step::Index(n));
                }
            }
        }
        Ok(Path {
            text: text.to_string(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first key: the record's own field the path starts from.
    pub fn root(&self) -> &str {
        match self.steps.first() {
            Some(Step::Key(k)) => k,
            _ => "",
        }
    }

    /// Whether a stream's JSON Schema has this path: each key among the `properties` of
    /// the object schema at its step (under `anyOf`/`oneOf` alternatives too), each index
    /// under `items`. A schema that allows any property (no `properties`) has every path.
    pub fn in_schema(&self, schema: &Value) -> bool {
        fn has(schema: &Value, steps: &[Step]) -> bool {
            let Some((step, rest)) = steps.split_first() else {
                return true;
            };
            let Some(object) = schema.as_object() else {
                return true; // `true` and such: anything
            };
            for alternatives in ["anyOf", "oneOf", "allOf"] {
                if let Some(list) = object.get(alternatives).and_then(Value::as_array)
                    && list.iter().any(|s| has(s, steps))
                {
                    return true;
                }
            }
            match step {
                Step::Key(key) => match object.get("properties").and_then(Value::as_object) {
                    Some(properties) => properties.get(key).is_some_and(|s| has(s, rest)),
                    None => is_open(object, "object", "additionalProperties"),
                },
                Step::Index(_) => match object.get("items") {
                    Some(items) => has(items, rest),
                    None => is_open(object, "array", "items"),
                },
            }
        }
        /// A schema of `kind` (or of no type) that says nothing of its members admits any.
        fn is_open(object: &Map<String, Value>, kind: &str, members: &str) -> bool {
            let typed = match object.get("type") {
                None => !object.contains_key("anyOf") && !object.contains_key("oneOf"),
                Some(Value::String(t)) => t == kind,
                Some(Value::Array(types)) => types.iter().any(|t| t == kind),
                Some(_) => false,
            };
            typed && object.get(members).is_none_or(|m| m != false)
        }
        has(schema, &self.steps)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn messages_are_read_as_the_specification_writes_them() {
        let schema = parse_message(
            r#"{"type": "SCHEMA", "stream": "users", "key_properties": ["id"], "schema": {"properties": {"id": {"type": "integer"}}}}"#,
        )
        .unwrap();
        assert!(
            matches!(schema, Message::Schema { ref stream, ref key_properties, .. } if stream == "users" && key_properties == &["id"])
        );
        let record = parse_message(
            r#"{"type": "RECORD", "stream": "users", "record": {"id": 1}, "time_extracted": "2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let Message::Record { stream, record } = record else {
            panic!("a record")
        };
        assert_eq!(
            (stream.as_str(), fields(&record).unwrap()),
            ("users", json!({"id": 1}).as_object().unwrap().clone())
        );
        assert_eq!(
            key_of(&record, &["id".into(), "no".into()]).unwrap().as_deref(),
            Some("1\u{1f}null\u{1f}")
        );
        assert_eq!(key_of(&record, &["no".into()]).unwrap(), None, "no key: stands alone");
        assert!(matches!(
            parse_message(r#"{"type": "STATE", "value": {"bookmarks": {}}}"#).unwrap(),
            Message::State { value } if value == json!({"bookmarks": {}})
        ));
        assert!(matches!(
            parse_message(r#"{"type": "ACTIVATE_VERSION", "stream": "users", "version": 17}"#).unwrap(),
            Message::ActivateVersion { stream, version: 17 } if stream == "users"
        ));
    }

    #[test]
    fn a_bad_line_says_what_is_wrong() {
        let error = |line: &str| parse_message(line).unwrap_err().to_string();
        assert!(error("{\"type\": \"RECORD\"").starts_with("not a JSON object"));
        assert!(error("[1]").starts_with("not a JSON object"));
        assert_eq!(error("{}"), MessageError::NoType.to_string());
        assert!(error(r#"{"type": "HELLO"}"#).contains("unknown message type \"HELLO\""));
        assert!(error(r#"{"type": "RECORD", "stream": "users"}"#).contains("RECORD message needs a \"record\""));
        assert!(error(r#"{"type": "RECORD", "stream": "users", "record": 3}"#).contains("needs a \"record\" object"));
        assert!(error(r#"{"type": "BATCH", "stream": "users"}"#).contains("batch_config"));
    }

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let record = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "x.y": 3});
        let record = record.as_object().unwrap();
        let at = |p: &str| lookup(record, &Path::parse(p).unwrap()).cloned();
        assert_eq!(at("a.b[1].c"), Some(json!(2)));
        assert_eq!(at("a.b[2].c"), None);
        assert_eq!(at("a.c"), None);
        assert_eq!(at("a.b[0]"), Some(json!({"c": 1})));
        assert!(Path::parse("a..b").is_err());
        assert!(Path::parse("a[x]").is_err());
        assert!(Path::parse("a[1").is_err());
        assert_eq!(Path::parse("a.b[0][1]").unwrap().steps.len(), 4);
    }

    #[test]
    fn a_path_is_found_in_a_schema() {
        let schema = json!({"type": "object", "properties": {
            "id": {"type": ["integer"]},
            "properties": {"type": "object", "properties": {"name": {"type": "object", "properties": {"value": {"type": "string"}}}}},
            "emails": {"type": "array", "items": {"type": "object", "properties": {"address": {"type": "string"}}}},
            "custom": {"type": "object"},
            "either": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"k": {"type": "string"}}}]}
        }});
        let has = |p: &str| Path::parse(p).unwrap().in_schema(&schema);
        assert!(has("id") && has("properties.name.value") && has("emails[0].address"));
        assert!(has("custom.anything"), "an object without properties admits any");
        assert!(has("either.k") && !has("either.j"));
        assert!(!has("name") && !has("properties.name.label") && !has("emails[0].kind"));
    }
}
