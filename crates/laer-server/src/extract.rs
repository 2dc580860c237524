//! What the REST API's handlers take from a request, declared in their signatures: the
//! caller with the permission the route needs ([`ApiCaller`]), and typed query parameters
//! that refuse unknown names ([`ApiQuery`]). A handler cannot forget to check either: it
//! does not run unless both hold.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use laer_core::access::{Permission, Role};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::json;

use crate::{ApiError, AppState};

/// A permission a route needs, as a type: `ApiCaller<ViewAccounts>`.
pub(crate) trait Needs {
    const PERMISSION: Permission;
}

macro_rules! needs {
    ($($name:ident),+ $(,)?) => {$(
        #[doc = concat!("The `", stringify!($name), "` permission, for [`ApiCaller`].")]
        pub(crate) struct $name;
        impl Needs for $name {
            const PERMISSION: Permission = Permission::$name;
        }
    )+};
}

needs!(ViewAccounts, ViewRevenue, WorkTasks);

/// The caller of an API route: a live API token, sent as `Authorization: Bearer TOKEN`,
/// whose role may use the API; else 401 before the handler runs. A route whose
/// permission is known when it is written takes [`ApiCaller`]; one whose permission
/// depends on what it is asked to do (the record kind of a write) calls
/// [`ApiToken::require`], which answers exactly as [`ApiCaller`] does.
pub(crate) struct ApiToken {
    /// The audit log's actor for the token's changes: `API token #7 “CRM sync”`
    /// ([`laer_store::TokenHolder::actor`]).
    pub actor: String,
    pub role: Role,
}

impl ApiToken {
    /// The token's role has `permission` (and may use the API), else 403 naming it.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        for needed in [Permission::UseApi, permission] {
            if !self.role.can(needed) {
                return Err(ApiError::Forbidden(needed));
            }
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for ApiToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let holder = state
            .store
            .authenticate_api_token(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(ApiToken {
            actor: holder.actor(),
            role: holder.role,
        })
    }
}

/// The caller of an API route that needs the permission `N`: an [`ApiToken`] whose role
/// has it; else 401 or 403 (naming the permission) before the handler runs.
pub(crate) struct ApiCaller<N: Needs> {
    #[allow(dead_code)] // Handlers that only need the check don't read the role.
    pub role: Role,
    /// The audit log's actor for changes the caller makes (see [`ApiToken`]).
    pub actor: String,
    needs: PhantomData<N>,
}

impl<N: Needs + Send + Sync> FromRequestParts<AppState> for ApiCaller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = ApiToken::from_request_parts(parts, state).await?;
        token.require(N::PERMISSION)?;
        Ok(ApiCaller {
            role: token.role,
            actor: token.actor,
            needs: PhantomData,
        })
    }
}

/// Query parameters parsed into `T` (a struct whose fields are the parameters). A
/// parameter `T` does not name is refused with a 400 that names it and lists the known
/// ones; a value that does not parse, with a 400 naming the parameter and the value.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string into `T`; see [`ApiQuery`].
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    // Neither engine stores or compares a NUL in text: refused here, for every route.
    if let Some((name, _)) = pairs.iter().find(|(n, v)| n.contains('\0') || v.contains('\0')) {
        return Err(ApiError::bad_request(
            format!(
                "query parameter {}: must not contain a NUL character",
                name.replace('\0', "")
            ),
            json!({"parameter": name.replace('\0', "")}),
        ));
    }
    let known = field_names::<T>();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !known.contains(&name.as_str())) {
        let expected = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(ApiError::bad_request(
            format!("unknown query parameter {name}; expected {expected}"),
            json!({"parameter": name}),
        ));
    }
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let name = e.path().to_string();
        let value = pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        let problem = e.into_inner().to_string();
        match value {
            Some(value) => ApiError::bad_request(
                format!("query parameter {name}: {problem}"),
                json!({"parameter": name, "value": value}),
            ),
            None => ApiError::bad_request(format!("query parameters: {problem}"), json!({"parameter": name})),
        }
    })
}

/// The field names of a struct that derives `Deserialize`, as serde declares them.
pub(crate) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names = None;
    // The deserializer only records what the struct asks for, then stops.
    let _ = T::deserialize(FieldNames(&mut names));
    names.unwrap_or(&[])
}

/// A deserializer that records the fields a struct asks for and refuses everything.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Page {
        limit: Option<u32>,
        after: Option<i64>,
        external_id: Option<String>,
    }

    fn refused(query: &str) -> (String, serde_json::Value) {
        match parse_query::<Page>(query) {
            Err(ApiError::BadRequest { message, details }) => (message, details),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn parameters_parse_into_their_fields() {
        assert_eq!(
            parse_query::<Page>("limit=5&external_id=a%20b").ok(),
            Some(Page {
                limit: Some(5),
                after: None,
                external_id: Some("a b".into())
            })
        );
        assert_eq!(field_names::<Page>(), ["limit", "after", "external_id"]);
    }

    #[test]
    fn an_unknown_parameter_is_named_with_the_known_ones() {
        let (message, details) = refused("limit=5&page=2");
        assert_eq!(
            message,
            "unknown query parameter page; expected limit, after, external_id"
        );
        assert_eq!(details["parameter"], "page");
    }

    #[test]
    fn a_bad_value_names_its_parameter_and_value() {
        let (message, details) = refused("after=1&limit=ten");
        assert!(message.starts_with("query parameter limit: "), "{message}");
        assert_eq!(details, json!({"parameter": "limit", "value": "ten"}));
    }
}
