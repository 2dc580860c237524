//! Calls of the Segment HTTP Tracking API (track, identify, group, page, screen, alias,
//! batch): validation, and what each call means for laer. Pure: the server supplies the
//! time of receipt and a fresh message id for calls without one.

use chrono::{DateTime, Months, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

/// Largest single call, and largest batch, in bytes (Segment's limits).
pub const MAX_CALL_BYTES: usize = 32 * 1024;
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// The earliest time a call may have happened, in seconds since the epoch:
/// 2000-01-01T00:00:00Z. Together with [`MAX_CALL_AGE_YEARS`] and [`MAX_CALL_LEAD_SECS`]
/// this is the window of [`call_time_window`].
pub const EARLIEST_CALL_SECS: i64 = 946_684_800;
/// How many years before its receipt a call may have happened (a back-fill of history).
pub const MAX_CALL_AGE_YEARS: u32 = 20;
/// How far after its receipt a call may say it happened: one day, for clocks that are
/// a little ahead.
pub const MAX_CALL_LEAD_SECS: i64 = 24 * 60 * 60;

/// The times a call received at `received_at` may have happened at, both ends included:
/// from the later of 2000-01-01 and [`MAX_CALL_AGE_YEARS`] years before, to
/// [`MAX_CALL_LEAD_SECS`] after. A call whose time (after the clock-skew correction)
/// falls outside is refused, naming the field the time came from.
pub fn call_time_window(received_at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = DateTime::from_timestamp(EARLIEST_CALL_SECS, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let back = received_at
        .checked_sub_months(Months::new(12 * MAX_CALL_AGE_YEARS))
        .unwrap_or(earliest);
    let latest = received_at
        .checked_add_signed(TimeDelta::seconds(MAX_CALL_LEAD_SECS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (earliest.max(back), latest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Track,
    Identify,
    Group,
    Page,
    Screen,
    Alias,
}

impl CallKind {
    pub fn parse(text: &str) -> Option<CallKind> {
        Some(match text {
            "track" => CallKind::Track,
            "identify" => CallKind::Identify,
            "group" => CallKind::Group,
            "page" => CallKind::Page,
            "screen" => CallKind::Screen,
            "alias" => CallKind::Alias,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Track => "track",
            CallKind::Identify => "identify",
            CallKind::Group => "group",
            CallKind::Page => "page",
            CallKind::Screen => "screen",
            CallKind::Alias => "alias",
        }
    }

    /// Whether the call records product usage.
    pub fn is_usage(self) -> bool {
        matches!(self, CallKind::Track | CallKind::Page | CallKind::Screen)
    }
}

/// A problem with one call; `index` is its position within a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", index.map(|i| format!("batch[{i}]: ")).unwrap_or_default())]
pub struct CallError {
    pub index: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl CallError {
    fn field(field: &str, message: impl Into<String>) -> CallError {
        CallError {
            index: None,
            field: Some(field.to_string()),
            message: format!("{field} {}", message.into()),
        }
    }
}

/// A validated call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub kind: CallKind,
    pub message_id: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// The account's external id: a group call's `groupId`, or `context.groupId`.
    pub group_id: Option<String>,
    /// The usage event's name: a track call's `event`; `page`/`screen` with the name.
    pub event: Option<String>,
    /// When the call happened, corrected for the client's clock skew.
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// `properties` (track, page, screen) or `traits` (identify, group).
    pub attributes: Map<String, Value>,
    /// An alias call's `previousId`.
    pub previous_id: Option<String>,
    /// The call as received, with `messageId` and `receivedAt` filled in.
    pub payload: Value,
}

impl Call {
    /// The identity laer keys a user by: `userId`, else `anon:` + `anonymousId`.
    pub fn user_key(&self) -> String {
        match (&self.user_id, &self.anonymous_id) {
            (Some(user), _) => user.clone(),
            (None, Some(anonymous)) => format!("anon:{anonymous}"),
            (None, None) => String::new(),
        }
    }

    /// A numeric value of a usage event: `properties.value`, else `revenue`.
    pub fn value(&self) -> Option<f64> {
        ["value", "revenue"]
            .iter()
            .find_map(|k| self.attributes.get(*k).and_then(Value::as_f64))
    }
}

/// The path of the first key or string holding a NUL character. Every call of every
/// batch is checked: the paths are only written out when there is one.
fn nul_at(value: &Value, path: &str) -> Option<String> {
    if holds_nul(value) {
        path_of_nul(value, path)
    } else {
        None
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn path_of_nul(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "value".into()
        } else {
            path.to_string()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| path_of_nul(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                path_of_nul(v, &join(k))
            }
        }),
        _ => None,
    }
}

/// Text of an id field: strings as they are, numbers written out (clients send both).
fn id_field(object: &Map<String, Value>, field: &str) -> Result<Option<String>, CallError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(CallError::field(field, "must be a string")),
    }
}

fn time_field(object: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, CallError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| CallError::field(field, format!("must be an ISO 8601 timestamp, found {s:?}"))),
        Some(_) => Err(CallError::field(field, "must be an ISO 8601 timestamp string")),
    }
}

fn object_field(object: &Map<String, Value>, field: &str) -> Result<Map<String, Value>, CallError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(CallError::field(field, "must be an object")),
    }
}

fn text_field(object: &Map<String, Value>, field: &str) -> Result<Option<String>, CallError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CallError::field(field, "must be a string")),
    }
}

fn in_window(t: DateTime<Utc>, received_at: DateTime<Utc>) -> bool {
    let (earliest, latest) = call_time_window(received_at);
    earliest <= t && t <= latest
}

/// The error of a call whose time is outside [`call_time_window`].
fn outside_window(
    field: &str,
    original: DateTime<Utc>,
    corrected: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> CallError {
    let (earliest, latest) = call_time_window(received_at);
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let when = match corrected {
        Some(c) if c != original => format!("{} corrected by sentAt to {}", text(original), text(c)),
        None if field == "sentAt" => format!("{}, corrected by sentAt out of range", text(original)),
        _ => text(original),
    };
    CallError::field(
        field,
        format!("puts the call at {when}, {}", outside_words(earliest, latest)),
    )
}

/// "outside the accepted window from ... to ... (...)".
fn outside_words(earliest: DateTime<Utc>, latest: DateTime<Utc>) -> String {
    format!(
        "outside the accepted window from {} to {} (at most {MAX_CALL_AGE_YEARS} years before it was received, \
         not before 2000-01-01, at most one day after)",
        earliest.to_rfc3339_opts(SecondsFormat::Secs, true),
        latest.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// A user's or account's `createdAt` trait, which laer keeps (product users' creation
/// dates), must lie in the call's time window too. A text that is no RFC 3339 time is not
/// kept, and so not checked.
fn check_created_at(traits: &Map<String, Value>, received_at: DateTime<Utc>) -> Result<(), CallError> {
    let created = traits
        .get("createdAt")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    match created {
        Some(t) if !in_window(t.with_timezone(&Utc), received_at) => {
            let (earliest, latest) = call_time_window(received_at);
            Err(CallError::field(
                "traits.createdAt",
                format!(
                    "{} is {}",
                    t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    outside_words(earliest, latest)
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// What surrounds a call: its endpoint (or `None` inside a batch, where `type` says),
/// the batch's `sentAt` and `context`, the time of receipt, and a message id to use
/// when the call has none.
pub struct Envelope<'a> {
    pub endpoint: Option<CallKind>,
    pub batch_sent_at: Option<DateTime<Utc>>,
    pub batch_context: Option<&'a Map<String, Value>>,
    pub received_at: DateTime<Utc>,
    pub fresh_message_id: &'a dyn Fn() -> String,
    /// Whether the JSON text the calls were parsed from may hold a NUL character
    /// ([`text_may_hold_nul`]); when it cannot, the calls are not searched for one.
    pub may_hold_nul: bool,
}

/// Whether JSON text may hold a NUL character in a string or key. JSON writes every
/// control character escaped (a raw one is malformed, and refused by the parser), so a
/// NUL is always the escape `\u0000`; text without that escape holds none, and its
/// calls need not be searched (which took about 2 % of ingest's CPU).
pub fn text_may_hold_nul(json: &[u8]) -> bool {
    memchr::memmem::find(json, br"\u0000").is_some()
}

/// Validates one call. The event time follows the spec: the call's `timestamp` (or
/// `originalTimestamp`), corrected by the client's clock skew `receivedAt - sentAt` when
/// the call or its batch says when it was sent; without a time, the time of receipt. A
/// time outside [`call_time_window`] is refused, naming `timestamp` (or
/// `originalTimestamp`), or `sentAt` when the time was inside and only the correction
/// took it out; a client clock that is wrong (a device reset to 1970) but whose `sentAt`
/// corrects it is fine.
pub fn parse_call(value: Value, envelope: &Envelope<'_>) -> Result<Call, CallError> {
    if !value.is_object() {
        return Err(CallError {
            index: None,
            field: None,
            message: "a call must be a JSON object".into(),
        });
    }
    // PostgreSQL text cannot hold NUL: refuse it here, naming where, not in the database.
    if envelope.may_hold_nul
        && let Some(field) = nul_at(&value, "")
    {
        return Err(CallError::field(&field, "contains a NUL character (\\u0000)"));
    }
    // The call becomes its own payload below: taken, not copied.
    let Value::Object(mut object) = value else {
        unreachable!("an object, as checked above")
    };
    let object = &mut object;
    let kind = match (envelope.endpoint, text_field(object, "type")?) {
        (Some(kind), None) => kind,
        (Some(kind), Some(t)) if t == kind.as_str() => kind,
        (Some(kind), Some(t)) => {
            return Err(CallError::field(
                "type",
                format!("is {t:?} but the endpoint is /v1/{}", kind.as_str()),
            ));
        }
        (None, Some(t)) => CallKind::parse(&t).ok_or_else(|| {
            CallError::field(
                "type",
                format!("must be track, identify, group, page, screen or alias, found {t:?}"),
            )
        })?,
        (None, None) => return Err(CallError::field("type", "is required in a batch")),
    };
    let user_id = id_field(object, "userId")?;
    let anonymous_id = id_field(object, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(CallError::field("userId", "or anonymousId is required"));
    }
    let mut context = envelope.batch_context.cloned().unwrap_or_default();
    context.extend(object_field(object, "context")?);
    let group_id = match kind {
        CallKind::Group => Some(
            id_field(object, "groupId")?.ok_or_else(|| CallError::field("groupId", "is required in a group call"))?,
        ),
        _ => id_field(&context, "groupId")?,
    };
    let name = text_field(object, "name")?;
    let event = match kind {
        CallKind::Track => {
            let event = text_field(object, "event")?.filter(|e| !e.trim().is_empty());
            Some(event.ok_or_else(|| CallError::field("event", "is required in a track call"))?)
        }
        CallKind::Page | CallKind::Screen => Some(
            name.as_ref()
                .map_or_else(|| kind.as_str().to_string(), |n| format!("{}:{n}", kind.as_str())),
        ),
        _ => None,
    };
    let attributes = match kind {
        CallKind::Identify | CallKind::Group => {
            let traits = object_field(object, "traits")?;
            check_created_at(&traits, envelope.received_at)?;
            traits
        }
        _ => object_field(object, "properties")?,
    };
    let previous_id = match kind {
        CallKind::Alias => Some(
            id_field(object, "previousId")?
                .ok_or_else(|| CallError::field("previousId", "is required in an alias call"))?,
        ),
        _ => None,
    };
    let message_id = match id_field(object, "messageId")? {
        Some(id) => id,
        None => (envelope.fresh_message_id)(),
    };
    let original = match time_field(object, "timestamp")? {
        Some(t) => Some(("timestamp", t)),
        None => time_field(object, "originalTimestamp")?.map(|t| ("originalTimestamp", t)),
    };
    let sent_at = time_field(object, "sentAt")?.or(envelope.batch_sent_at);
    let timestamp = match (original, sent_at) {
        (Some((field, original)), Some(sent)) => {
            // Any two instants' difference is a `TimeDelta`; the sum may leave chrono's range.
            let corrected = original.checked_add_signed(envelope.received_at.signed_duration_since(sent));
            // Within the window as sent, out of it once corrected: `sentAt` is to blame.
            let blamed = if in_window(original, envelope.received_at) {
                "sentAt"
            } else {
                field
            };
            match corrected {
                Some(t) if in_window(t, envelope.received_at) => t,
                _ => return Err(outside_window(blamed, original, corrected, envelope.received_at)),
            }
        }
        (Some((field, original)), None) if !in_window(original, envelope.received_at) => {
            return Err(outside_window(field, original, None, envelope.received_at));
        }
        (Some((_, original)), None) => original,
        (None, _) => envelope.received_at,
    };
    let mut payload = std::mem::take(object);
    payload.insert("type".into(), Value::String(kind.as_str().into()));
    payload.insert("messageId".into(), Value::String(message_id.clone()));
    payload.insert("receivedAt".into(), Value::String(envelope.received_at.to_rfc3339()));
    if !context.is_empty() {
        payload.insert("context".into(), Value::Object(context));
    }
    Ok(Call {
        kind,
        message_id,
        user_id,
        anonymous_id,
        group_id,
        event,
        timestamp,
        received_at: envelope.received_at,
        attributes,
        previous_id,
        payload: Value::Object(payload),
    })
}

/// Validates a batch body (`{"batch": [...], "sentAt": ..., "context": ...}`) of
/// `body_bytes` bytes; the first invalid call rejects the whole batch, naming its index.
pub fn parse_batch(body: Value, body_bytes: usize, envelope: &Envelope<'_>) -> Result<Vec<Call>, CallError> {
    let Value::Object(mut object) = body else {
        return Err(CallError {
            index: None,
            field: None,
            message: "the body must be a JSON object".into(),
        });
    };
    let calls = match object.remove("batch") {
        Some(Value::Array(calls)) => calls,
        _ => return Err(CallError::field("batch", "must be an array of calls")),
    };
    // The batch's own fields (context, sentAt) join every call: no NUL there either.
    if envelope.may_hold_nul {
        for (key, value) in &object {
            if let Some(field) = nul_at(value, key) {
                return Err(CallError::field(&field, "contains a NUL character (\\u0000)"));
            }
        }
    }
    let context = object_field(&object, "context")?;
    let envelope = Envelope {
        endpoint: None,
        batch_sent_at: time_field(&object, "sentAt")?,
        batch_context: Some(&context),
        received_at: envelope.received_at,
        fresh_message_id: envelope.fresh_message_id,
        may_hold_nul: envelope.may_hold_nul,
    };
    calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            // Only a body over the limit can hold a call over it.
            let size = if body_bytes > MAX_CALL_BYTES {
                serde_json::to_vec(&call).map(|v| v.len()).unwrap_or(0)
            } else {
                0
            };
            if size > MAX_CALL_BYTES {
                return Err(CallError {
                    index: Some(i),
                    field: None,
                    message: format!("call is {size} bytes; the limit is {MAX_CALL_BYTES}"),
                });
            }
            parse_call(call, &envelope).map_err(|e| CallError { index: Some(i), ..e })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn envelope(endpoint: Option<CallKind>) -> Envelope<'static> {
        Envelope {
            endpoint,
            batch_sent_at: None,
            batch_context: None,
            received_at: at("2024-05-01T12:00:10Z"),
            fresh_message_id: &|| "generated".to_string(),
            may_hold_nul: true,
        }
    }

    #[test]
    fn a_track_call_with_clock_skew() {
        let call = parse_call(
            json!({"userId": "u1", "event": "Report Viewed", "properties": {"value": 3},
                    "timestamp": "2024-05-01T11:00:00Z", "sentAt": "2024-05-01T11:00:05Z",
                    "context": {"groupId": "acme"}, "messageId": "m-1"}),
            &envelope(Some(CallKind::Track)),
        )
        .unwrap();
        assert_eq!(call.event.as_deref(), Some("Report Viewed"));
        assert_eq!(call.group_id.as_deref(), Some("acme"));
        assert_eq!(call.message_id, "m-1");
        assert_eq!(call.value(), Some(3.0));
        // The client's clock is 65 minutes behind: 11:00:00 happened at 12:00:05.
        assert_eq!(call.timestamp, at("2024-05-01T12:00:05Z"));
    }

    #[test]
    fn defaults_and_generated_ids() {
        let call = parse_call(
            json!({"anonymousId": 42, "name": "Pricing"}),
            &envelope(Some(CallKind::Page)),
        )
        .unwrap();
        assert_eq!(call.message_id, "generated");
        assert_eq!(call.user_key(), "anon:42");
        assert_eq!(call.event.as_deref(), Some("page:Pricing"));
        assert_eq!(call.timestamp, call.received_at);
        assert_eq!(call.payload["messageId"], "generated");
        let without_sent_at = parse_call(
            json!({"userId": "u", "timestamp": "2024-01-01T00:00:00Z", "traits": {}}),
            &envelope(Some(CallKind::Identify)),
        )
        .unwrap();
        assert_eq!(without_sent_at.timestamp, at("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn bad_calls_are_named() {
        let track = envelope(Some(CallKind::Track));
        let err = |v: Value, e: &Envelope| parse_call(v, e).unwrap_err().to_string();
        assert_eq!(err(json!({"event": "x"}), &track), "userId or anonymousId is required");
        assert_eq!(err(json!({"userId": "u"}), &track), "event is required in a track call");
        assert_eq!(
            err(json!({"userId": "u", "event": "x", "properties": [1]}), &track),
            "properties must be an object"
        );
        assert_eq!(
            err(json!({"userId": ["u"], "event": "x"}), &track),
            "userId must be a string"
        );
        assert!(err(json!({"userId": "u", "event": "x", "timestamp": "yesterday"}), &track).contains("ISO 8601"));
        assert_eq!(
            err(json!({"userId": "u", "type": "identify"}), &track),
            "type is \"identify\" but the endpoint is /v1/track"
        );
        assert_eq!(
            err(json!({"userId": "u"}), &envelope(Some(CallKind::Group))),
            "groupId is required in a group call"
        );
        assert_eq!(err(json!("x"), &track), "a call must be a JSON object");
    }

    #[test]
    fn a_created_at_trait_outside_the_window_is_refused() {
        let identify = envelope(Some(CallKind::Identify));
        let call = |created: &str| {
            parse_call(
                json!({"userId": "u", "traits": {"email": "a@example.com", "createdAt": created}}),
                &identify,
            )
        };
        assert!(call("2023-02-01T09:30:00Z").is_ok());
        assert!(call("last spring").is_ok(), "not a time: not kept, not refused");
        for far in ["9999-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00"] {
            let e = call(far).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("traits.createdAt"), "{e}");
            assert!(e.message.contains("outside the accepted window"), "{e}");
        }
        let group = envelope(Some(CallKind::Group));
        let e = parse_call(
            json!({"userId": "u", "groupId": "g", "traits": {"createdAt": "9999-01-01T00:00:00Z"}}),
            &group,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("traits.createdAt"));
    }

    #[test]
    fn times_outside_the_window_are_refused_naming_the_field() {
        let track = envelope(Some(CallKind::Track));
        let refused = |extra: Value| {
            let mut call = json!({"userId": "u", "event": "x"});
            call.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse_call(call.clone(), &track).err().map(|e| {
                assert!(e.message.contains("outside the accepted window"), "{e}");
                e.field.unwrap()
            })
        };
        assert_eq!(
            refused(json!({"timestamp": "9999-01-01T00:00:00Z"})).as_deref(),
            Some("timestamp")
        );
        assert_eq!(
            refused(json!({"timestamp": "0001-01-01T00:00:00Z"})).as_deref(),
            Some("timestamp")
        );
        assert_eq!(
            refused(json!({"originalTimestamp": "1999-12-31T23:59:59Z"})).as_deref(),
            Some("originalTimestamp")
        );
        // Received at 2024-05-01T12:00:10Z: one day ahead at most, twenty years back.
        assert_eq!(refused(json!({"timestamp": "2024-05-02T12:00:10Z"})), None);
        assert_eq!(
            refused(json!({"timestamp": "2024-05-02T12:00:11Z"})).as_deref(),
            Some("timestamp")
        );
        assert_eq!(refused(json!({"timestamp": "2004-05-01T12:00:10Z"})), None);
        assert_eq!(
            refused(json!({"timestamp": "2004-05-01T12:00:09Z"})).as_deref(),
            Some("timestamp")
        );
        // A sane time that only a wild `sentAt` puts out of the window: `sentAt` is named.
        assert_eq!(
            refused(json!({"timestamp": "2024-05-01T12:00:00Z", "sentAt": "1990-01-01T00:00:00Z"})).as_deref(),
            Some("sentAt")
        );
        assert_eq!(
            refused(json!({"timestamp": "2024-05-01T12:00:00Z", "sentAt": "0001-01-01T00:00:00Z"})).as_deref(),
            Some("sentAt")
        );
        // A device whose clock was reset to 1970: its `sentAt` corrects the time.
        let reset = parse_call(
            json!({"userId": "u", "event": "x", "timestamp": "1970-01-01T00:00:00Z",
                    "sentAt": "1970-01-01T00:00:05Z"}),
            &track,
        )
        .unwrap();
        assert_eq!(reset.timestamp, at("2024-05-01T12:00:05Z"));
        // In a batch, the call is named by its index; the whole batch is refused.
        let e = parse_batch(
            json!({"batch": [
                {"type": "track", "userId": "u", "event": "a", "timestamp": "2024-05-01T11:00:00Z"},
                {"type": "track", "userId": "u", "event": "b", "timestamp": "9999-12-31T23:59:59Z"},
            ]}),
            200,
            &envelope(None),
        )
        .unwrap_err();
        assert_eq!((e.index, e.field.as_deref()), (Some(1), Some("timestamp")));
        assert_eq!(
            e.to_string(),
            "batch[1]: timestamp puts the call at 9999-12-31T23:59:59Z, outside the accepted window from \
             2004-05-01T12:00:10Z to 2024-05-02T12:00:10Z (at most 20 years before it was received, not before \
             2000-01-01, at most one day after)"
        );
    }

    proptest::proptest! {
        /// A call is accepted exactly when its corrected time is inside the window, and
        /// is then stored at that time; without `sentAt`, at the time as sent.
        #[test]
        fn the_time_window_decides(
            received in 946_684_800i64..4_102_444_800,
            offset in -40 * 366 * 86_400i64..40 * 366 * 86_400,
            skew in proptest::option::of(-40 * 366 * 86_400i64..40 * 366 * 86_400),
        ) {
            let received_at = DateTime::from_timestamp(received, 0).unwrap();
            let time = DateTime::from_timestamp(received + offset, 0).unwrap();
            let mut call = json!({"userId": "u", "event": "x", "timestamp": time.to_rfc3339()});
            let mut expected = time;
            if let Some(skew) = skew {
                // The client's clock is `skew` seconds ahead.
                let sent = DateTime::from_timestamp(received + skew, 0).unwrap();
                call["sentAt"] = json!(sent.to_rfc3339());
                expected = time - TimeDelta::seconds(skew);
            }
            let envelope = Envelope { received_at, ..envelope(Some(CallKind::Track)) };
            let (earliest, latest) = call_time_window(received_at);
            let inside = earliest <= expected && expected <= latest;
            match parse_call(call.clone(), &envelope) {
                Ok(parsed) => {
                    proptest::prop_assert!(inside, "accepted {expected} outside {earliest}..{latest}");
                    proptest::prop_assert_eq!(parsed.timestamp, expected);
                }
                Err(e) => {
                    proptest::prop_assert!(!inside, "refused {expected} inside {earliest}..{latest}: {e}");
                    let field = e.field.as_deref().unwrap_or_default();
                    proptest::prop_assert!(field == "timestamp" || field == "sentAt", "{e}");
                }
            }
        }
    }

    #[test]
    fn the_window_is_twenty_years_back_from_2000_on_and_one_day_ahead() {
        let (earliest, latest) = call_time_window(at("2010-06-01T00:00:00Z"));
        assert_eq!(
            (earliest, latest),
            (at("2000-01-01T00:00:00Z"), at("2010-06-02T00:00:00Z"))
        );
        let (earliest, _) = call_time_window(at("2030-06-01T00:00:00Z"));
        assert_eq!(earliest, at("2010-06-01T00:00:00Z"));
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        let e = parse_call(
            json!({"userId": "u", "event": "a", "properties": {"note": "x\u{0}y"}}),
            &envelope(Some(CallKind::Track)),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties.note"));
        assert!(e.to_string().contains("NUL"), "{e}");
        let e = parse_call(json!({"userId": "u\u{0}"}), &envelope(Some(CallKind::Identify))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("userId"));
    }

    /// The text a client sends says whether its calls need searching for NUL: a NUL
    /// anywhere in it (a key, a string, the batch's context) is written `\u0000`.
    #[test]
    fn a_nul_is_found_from_the_text_it_was_sent_in() {
        let text = br#"{"batch": [{"type": "track", "userId": "u", "event": "a", "properties": {"k\u0000": 1}}]}"#;
        assert!(text_may_hold_nul(text));
        let body: Value = serde_json::from_slice(text).unwrap();
        let mut sent = envelope(None);
        sent.may_hold_nul = text_may_hold_nul(text);
        let e = parse_batch(body, text.len(), &sent).unwrap_err();
        assert_eq!((e.index, e.field.as_deref()), (Some(0), Some("properties.k\\u0000")));
        // An escaped backslash before "u0000" is no NUL: searched, and let through.
        let text = br#"{"batch": [{"type": "track", "userId": "u", "event": "a\\u0000"}]}"#;
        assert!(text_may_hold_nul(text));
        let body: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(
            parse_batch(body, text.len(), &sent).unwrap()[0].event.as_deref(),
            Some("a\\u0000")
        );
        assert!(!text_may_hold_nul(br#"{"userId": "u\u0001", "event": "\\u000"}"#));
    }

    /// Texts of NULs, backslashes and the escape's letters among others.
    const CHARS: &str = "[a-zu0-9\\\\\\x00\u{e9}]{0,8}";

    proptest::proptest! {
        /// Whatever a call holds, the JSON text of it shows any NUL in it.
        #[test]
        fn text_without_the_escape_holds_no_nul(key in CHARS, text in CHARS, inner in CHARS) {
            let value = json!({"userId": "u", key.clone(): text.clone(), "context": {"x": [inner.clone()]}});
            let holds = [&key, &text, &inner].iter().any(|s| s.contains('\0'));
            let written = serde_json::to_vec(&value).unwrap();
            proptest::prop_assert!(!holds || text_may_hold_nul(&written));
            proptest::prop_assert_eq!(holds, nul_at(&value, "").is_some());
        }
    }

    #[test]
    fn batches_name_the_bad_index() {
        let body = json!({"batch": [
            {"type": "track", "userId": "u", "event": "a"},
            {"type": "track", "userId": "u"},
        ]});
        let e = parse_batch(body.clone(), 100, &envelope(None)).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert_eq!(e.to_string(), "batch[1]: event is required in a track call");
        let unknown = parse_batch(
            json!({"batch": [{"type": "boom", "userId": "u"}]}),
            100,
            &envelope(None),
        )
        .unwrap_err();
        assert!(
            unknown.to_string().starts_with("batch[0]: type must be track"),
            "{unknown}"
        );
        assert_eq!(
            parse_batch(json!({"batch": {}}), 100, &envelope(None))
                .unwrap_err()
                .to_string(),
            "batch must be an array of calls"
        );
        let ok = parse_batch(
            json!({"batch": [{"type": "identify", "userId": "u", "traits": {"email": "a@b"}}],
                    "context": {"groupId": "acme"}, "sentAt": "2024-05-01T12:00:10Z"}),
            200,
            &envelope(None),
        )
        .unwrap();
        assert_eq!(ok[0].group_id.as_deref(), Some("acme"));
        let big = "x".repeat(MAX_CALL_BYTES);
        let e = parse_batch(
            json!({"batch": [{"type": "track", "userId": "u", "event": big}]}),
            MAX_CALL_BYTES + 60,
            &envelope(None),
        )
        .unwrap_err();
        assert_eq!(e.index, Some(0));
    }
}
