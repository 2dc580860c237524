//! The REST API's OpenAPI 3.1 document, built with utoipa's builders from the same
//! declarations the routes are made of: the read routes' table below (a test compares it
//! with every `.route` of the API), and the record writes from the import kinds'
//! columns, so a record's schema cannot drift from what its parser takes. Served at
//! `/api/v1/openapi.json` and rendered as a reference page at `/api/docs`.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use laer_core::access::{Permission, record_write_permission};
use laer_core::limits;
use laer_import::Kind;
use maud::{Markup, html};
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ArrayItems, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, Header, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder,
};

use crate::AppState;
use crate::records_api::{MAX_RECORDS, bulk_path, record_path};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(document_json))
        .route("/api/docs", get(reference_page))
}

/// The document, built once.
pub(crate) fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// The document as JSON (a `Value`, for the reference page and tests).
pub(crate) fn document_value() -> Value {
    serde_json::to_value(document()).unwrap_or(Value::Null)
}

async fn document_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document().to_json().unwrap_or_default(),
    )
        .into_response()
}

/// What a parameter holds.
#[derive(Clone, Copy)]
enum Ty {
    Integer,
    Text,
    Date,
    Boolean,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A whole number from 1 to this maximum (a page size: `laer_core::limits`).
    UpTo(u32),
    /// A report's day: a date within the reports' window (`laer_core::limits`).
    ReportDay,
}

/// A read route of the API: documented here, served by `api.rs` and `work_api.rs`.
struct Read {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    /// `None`: open, no token.
    permission: Option<Permission>,
    /// Query parameters: name, type, required, meaning.
    query: &'static [(&'static str, Ty, bool, &'static str)],
    /// A JSON body: its fields (name, type, meaning), for the one route that takes one.
    body: &'static [(&'static str, Ty, &'static str)],
    /// The answer's description.
    answer: &'static str,
}

const ID: &str = "laer's id (a whole number)";

/// Every route of `api.rs` and `work_api.rs`, with what it takes and answers.
const READS: &[Read] = &[
    Read {
        method: HttpMethod::Get,
        path: "/healthz",
        summary: "Whether the server and its database answer",
        permission: None,
        query: &[],
        body: &[],
        answer: "`{\"status\": \"ok\", \"database\": \"sqlite\" | \"postgres\"}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts",
        summary: "Accounts in order of laer id, a page at a time",
        permission: Some(Permission::ViewAccounts),
        query: &[
            (
                "limit",
                Ty::UpTo(limits::MAX_PAGE_SIZE),
                false,
                "accounts per page, default 50",
            ),
            ("after", Ty::Integer, false, "the next_after of the previous page"),
            (
                "external_id",
                Ty::Text,
                false,
                "only the account with this external id (at most 300 characters)",
            ),
        ],
        body: &[],
        answer: "`{\"accounts\": [...], \"next_after\", \"total\"}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts/{id}",
        summary: "One account with its subscription lines and MRR today",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "the account, `mrr` and `subscriptions`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts/{id}/health",
        summary: "The account's health now, with pillars, drivers and changes",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "the health as docs/api.md describes it",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts/{id}/forecast",
        summary: "The account's chances of churn and downsell within 90 days, with the reasons",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "`{\"account_id\", \"horizon_days\", \"churn\", \"downsell\", \"renewal_due\", \"health_effect\", \"shipped\", \"days_to_renewal\", \"reasons\", \"source\"}`; 404 for an account that is not a customer",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/forecasts/churn",
        summary: "Every customer's chances of churn and downsell, with the model and its out-of-sample check",
        permission: Some(Permission::ViewAccounts),
        query: &[
            (
                "limit",
                Ty::UpTo(limits::MAX_PAGE_SIZE),
                false,
                "accounts per page, default 50",
            ),
            ("after", Ty::Integer, false, "the next_after of the previous page"),
        ],
        body: &[],
        answer: "`{\"model\": {\"horizon_days\", \"source\", \"evaluation\"}, \"accounts\": [...], \"next_after\", \"total\"}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/forecasts/renewals",
        summary: "This quarter's and the next's renewals forecast in money, with 90 % intervals, and past quarters' accuracy",
        permission: Some(Permission::ViewRevenue),
        query: &[],
        body: &[],
        answer: "`{\"today\", \"quarters\": [{\"quarter\", \"renewals\", \"renewable_arr\", \"forecast_arr\", \"called_arr\", \"renewed_arr\", \"grr\", \"nrr\", ...}], \"renewals\": [...], \"past\": [...], \"replayed\": {\"quarters\", \"mean_error\", \"within_interval\", \"too_early\"}, \"source\"}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts/{id}/plan",
        summary: "The account's success plan",
        permission: Some(Permission::ViewAccounts),
        query: &[(
            "view",
            Ty::OneOf(&["team", "customer"]),
            false,
            "customer: what a share link shows",
        )],
        body: &[],
        answer: "the plan: `plan`, `implement`, `monitor`, `optimize`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/accounts/{id}/coverage",
        summary: "Who covers the account now, in which role",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "`{\"account_id\", \"owners\": [{\"role\", \"team_member_id\", \"name\"}]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/reports/retention",
        summary: "Account churn, MRR retention and activity churn",
        permission: Some(Permission::ViewRevenue),
        query: &[
            ("from", Ty::ReportDay, true, "the period's first day"),
            ("to", Ty::ReportDay, true, "the period's last day"),
            ("every", Ty::OneOf(&["month"]), false, "one period per month"),
            (
                "activity_window",
                Ty::Integer,
                false,
                "days, 1-3650: adds activity churn",
            ),
            ("by", Ty::Text, false, "an account attribute, or plan"),
        ],
        body: &[],
        answer: "the report, or `{\"periods\": [...]}` with every=month",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/reports/mrr",
        summary: "MRR movements with net and gross revenue retention",
        permission: Some(Permission::ViewRevenue),
        query: &[
            ("from", Ty::ReportDay, true, "the period's first day"),
            ("to", Ty::ReportDay, true, "the period's last day"),
            ("every", Ty::OneOf(&["month"]), false, "one period per month"),
            ("by", Ty::Text, false, "an account attribute"),
            ("accounts", Ty::Boolean, false, "list every account's movement"),
        ],
        body: &[],
        answer: "`{\"by\", \"periods\": [...]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/reports/survival",
        summary: "Retention curves: accounts and starting revenue still customers, month by month",
        permission: Some(Permission::ViewRevenue),
        query: &[
            (
                "by",
                Ty::OneOf(&["cohort", "segment", "plan", "all"]),
                false,
                "how accounts are grouped (default cohort: the quarter they started)",
            ),
            (
                "months",
                Ty::UpTo(120),
                false,
                "months to read the curves to (default 36)",
            ),
        ],
        body: &[],
        answer: "`{\"by\", \"known_until\", \"months\", \"curves\": [{\"group\", \"accounts\", \"ended\", \"points\": [...], \"projection\"}]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/tasks",
        summary: "Tasks in queue order",
        permission: Some(Permission::ViewAccounts),
        query: &[
            ("assignee_id", Ty::Integer, false, "a team member's tasks"),
            ("unassigned", Ty::Text, false, "1 or true: only tasks nobody has"),
            ("account_id", Ty::Integer, false, "one account's tasks"),
            ("playbook", Ty::Text, false, "one playbook's tasks"),
            ("status", Ty::Text, false, "open (default), done, cancelled or all"),
            (
                "limit",
                Ty::UpTo(limits::MAX_TASKS_PER_REQUEST),
                false,
                "at most this many (default 500)",
            ),
        ],
        body: &[],
        answer: "`{\"tasks\": [...]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/tasks/{id}",
        summary: "One task with its comments",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "the task with `comments`",
    },
    Read {
        method: HttpMethod::Post,
        path: "/api/v1/tasks/{id}",
        summary: "Changes a task: done, reopen, cancel, snooze, reassign or comment",
        permission: Some(Permission::WorkTasks),
        query: &[],
        body: &[
            (
                "action",
                Ty::OneOf(&["done", "reopen", "cancel", "snooze", "reassign", "comment"]),
                "what to do",
            ),
            ("until", Ty::Date, "snooze: the day it wakes"),
            ("assignee_id", Ty::Integer, "reassign: the team member"),
            ("comment", Ty::Text, "comment: its text"),
        ],
        answer: "the task after the change, with `comments`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/playbooks",
        summary: "The playbooks in effect, with runs and open tasks",
        permission: Some(Permission::ViewAccounts),
        query: &[],
        body: &[],
        answer: "`{\"playbooks\": [...]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/playbooks/runs",
        summary: "Playbook runs, newest first",
        permission: Some(Permission::ViewAccounts),
        query: &[
            ("playbook", Ty::Text, false, "one playbook's runs"),
            ("account_id", Ty::Integer, false, "one account's runs"),
            (
                "limit",
                Ty::UpTo(limits::MAX_PAGE_SIZE),
                false,
                "the newest this many (default 500)",
            ),
        ],
        body: &[],
        answer: "`{\"runs\": [...]}`",
    },
    Read {
        method: HttpMethod::Get,
        path: "/api/v1/openapi.json",
        summary: "This document",
        permission: None,
        query: &[],
        body: &[],
        answer: "the OpenAPI 3.1 document",
    },
];

fn schema_of(ty: Ty) -> Schema {
    let object = ObjectBuilder::new();
    let object = match ty {
        Ty::Integer => object
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64))),
        Ty::Text => object.schema_type(Type::String),
        Ty::Date => object
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))),
        Ty::Boolean => object.schema_type(Type::Boolean),
        Ty::OneOf(words) => object
            .schema_type(Type::String)
            .enum_values(Some(words.iter().copied())),
        Ty::UpTo(max) => object
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(max)),
        Ty::ReportDay => object
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date)))
            .description(Some(format!(
                "from {} to {}",
                limits::EARLIEST_REPORT_DAY,
                limits::LATEST_REPORT_DAY
            ))),
    };
    Schema::Object(object.build())
}

fn any_object(description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
            .build(),
    )
}

fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

fn error(description: &str) -> utoipa::openapi::Response {
    json_response(description, Ref::from_schema_name("Error"))
}

fn path_parameter(name: &str, ty: Ty, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema_of(ty)))
        .build()
}

/// The permission's sentence in an operation's description.
fn needs(permission: Option<Permission>) -> String {
    match permission {
        Some(p) => format!("Needs a bearer token whose role has `{p}`."),
        None => "Open: no token needed.".to_string(),
    }
}

fn with_auth(operation: OperationBuilder, permission: Option<Permission>) -> OperationBuilder {
    match permission {
        None => operation.securities(Some(Vec::<SecurityRequirement>::new())),
        Some(_) => operation
            .response("401", error("No, an unknown or a revoked token"))
            .response(
                "403",
                error("The token's role lacks the permission (details.permission)"),
            ),
    }
}

fn read_operation(read: &Read) -> Operation {
    let mut operation = OperationBuilder::new()
        .summary(Some(read.summary))
        .description(Some(format!(
            "{} Answers {}.{}",
            needs(read.permission),
            read.answer,
            limits_note(read.path)
        )))
        .operation_id(Some(operation_id(&read.method, read.path)))
        .tag(if read.path.starts_with("/api/v1/") {
            "read"
        } else {
            "server"
        })
        .response("200", json_response("The answer", any_object(read.answer)));
    if read.path.contains("{id}") {
        operation = operation
            .parameter(path_parameter("id", Ty::Integer, ID))
            .response("404", error("No record with that id"));
    }
    for (name, ty, required, description) in read.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(if *required { Required::True } else { Required::False })
                .description(Some(match ty {
                    Ty::UpTo(max) => format!("{description}; 1 to {max}"),
                    Ty::ReportDay => format!(
                        "{description} (YYYY-MM-DD), from {} to {}",
                        limits::EARLIEST_REPORT_DAY,
                        limits::LATEST_REPORT_DAY
                    ),
                    _ => description.to_string(),
                }))
                .schema(Some(schema_of(*ty))),
        );
    }
    if !read.query.is_empty() || read.path.contains("{id}") || !read.body.is_empty() {
        operation = operation.response(
            "400",
            error("A parameter or the body does not read, or asks for more than a limit allows; details name it"),
        );
    }
    if !read.body.is_empty() {
        let mut body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .required("action");
        for (name, ty, description) in read.body {
            let mut field = schema_of(*ty);
            if let Schema::Object(o) = &mut field {
                o.description = Some(description.to_string());
            }
            body = body.property(*name, field);
        }
        operation = operation
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", ContentBuilder::new().schema(Some(body)).build())
                    .build(),
            ))
            .response("409", error("Someone changed the record meanwhile"));
    }
    with_auth(operation, read.permission).build()
}

/// The limits a route's request is held to beyond its parameters' own (issue 15), as a
/// sentence for its description.
fn limits_note(path: &str) -> String {
    match path {
        "/api/v1/reports/retention" | "/api/v1/reports/mrr" => format!(
            " At most {} monthly periods (with accounts=true, {}); a longer request is refused \
             with 400 naming the parameter and the limit. The periods are streamed as they are \
             computed, and the computation stops when the client disconnects.",
            limits::MAX_REPORT_PERIODS,
            limits::MAX_REPORT_PERIODS_WITH_ACCOUNTS,
        ),
        _ => String::new(),
    }
}

fn operation_id(method: &HttpMethod, path: &str) -> String {
    let verb = match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        _ => "other",
    };
    let words: Vec<&str> = path
        .split(['/', '{', '}', '.', '-'])
        .filter(|w| !w.is_empty() && *w != "api" && *w != "v1")
        .collect();
    format!("{verb}_{}", words.join("_"))
}

/// A field of a record: text, a number or true/false, as in a CSV cell (`null`: empty).
fn field_schema(description: String) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Number,
                Type::Boolean,
                Type::Null,
            ]))
            .max_length(Some(laer_core::parse::MAX_TEXT_CHARS))
            .description(Some(description))
            .build(),
    )
}

/// A record of `kind` as a JSON object, from its import declaration's columns; `given`
/// are columns the path gives (not required in the body).
fn record_schema(kind: Kind, given: &[&str]) -> Schema {
    let mut object = ObjectBuilder::new().schema_type(Type::Object).description(Some(format!(
        "A record of kind {kind}: the columns of `laer import {kind}` (docs/import.md) as keys."
    )));
    for spec in laer_import::columns(kind) {
        let required = spec.required && !given.contains(&spec.name);
        let description = if spec.required {
            "required".to_string()
        } else {
            "optional".to_string()
        };
        object = object.property(spec.name, field_schema(description));
        if required {
            object = object.required(spec.name);
        }
        for alias in spec.aliases {
            object = object.property(*alias, field_schema(format!("another name for {}", spec.name)));
        }
    }
    let object = if laer_import::keeps_extra_columns(kind) {
        object.additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([
                    Type::String,
                    Type::Number,
                    Type::Boolean,
                    Type::Null,
                ]))
                .max_length(Some(laer_core::parse::MAX_TEXT_CHARS))
                .description(Some("kept as an attribute of the account")),
        ))
    } else {
        object.additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    Schema::Object(object.build())
}

fn write_operations(kind: Kind) -> Vec<(String, HttpMethod, Operation)> {
    let permission = record_write_permission(kind.name());
    let key = laer_import::record_key(kind);
    let rejected = json_response(
        "Invalid records, nothing was written: details name each record's index and field",
        Ref::from_schema_name("Rejected"),
    );
    let written = json_response("What was written", Ref::from_schema_name("Written"));
    let body = |schema: Schema| {
        Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
                .build(),
        )
    };
    let bulk_body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .required("records")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .property(
            "records",
            ArrayBuilder::new()
                .items(ArrayItems::RefOrSchema(Box::new(RefOr::T(record_schema(kind, &[])))))
                .max_items(Some(MAX_RECORDS)),
        )
        .build();
    let bulk = OperationBuilder::new()
        .summary(Some(format!(
            "Writes up to {MAX_RECORDS} {kind} records, all or nothing"
        )))
        .description(Some(format!(
            "{} Upserts each record by its key ({}): a record stored exactly so is unchanged, so sending \
             the same request twice changes nothing. One invalid record and nothing is written.",
            needs(permission),
            key.join(", ")
        )))
        .operation_id(Some(format!("write_{}", kind.name().replace('-', "_"))))
        .tag("write")
        .request_body(body(Schema::Object(bulk_body)))
        .response("200", written.clone())
        .response("400", rejected.clone())
        .response("413", error("The body is larger than 32 MiB"));
    let mut operations = vec![(bulk_path(kind), HttpMethod::Post, with_auth(bulk, permission).build())];
    let parameters: Vec<Parameter> = key
        .iter()
        .map(|column| {
            let ty = if *column == "measured_on" { Ty::Date } else { Ty::Text };
            path_parameter(column, ty, &format!("the record's {column}"))
        })
        .collect();
    let versioned = laer_import::versioned_table(kind).is_some();
    let mut one_parameters = parameters.clone();
    let mut one_written = written;
    let mut versions = String::new();
    if versioned {
        one_parameters.push(
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "The version the change was made to, as a write's ETag gave it (\"3\"): refused with 412 \
                     when the record changed since",
                ))
                .schema(Some(schema_of(Ty::Text)))
                .build(),
        );
        let mut etag = Header::new(schema_of(Ty::Text));
        etag.description = Some("The record's version after the write, for a later If-Match".to_string());
        one_written.headers.insert("ETag".to_string(), etag);
        versions = " Its records carry a version: the answer's ETag is the version written; send it back as \
                    If-Match with the next change, and a record changed since is refused (412)."
            .to_string();
    }
    let mut one = OperationBuilder::new()
        .summary(Some(format!("Writes one {kind} record by its key")))
        .description(Some(format!(
            "{} The path gives the record's {}; a body value for it must be the same. Upserts as the bulk \
             write does.{versions}",
            needs(permission),
            key.join(", ")
        )))
        .operation_id(Some(format!("put_{}", kind.name().replace('-', "_"))))
        .tag("write")
        .parameters(Some(one_parameters))
        .request_body(body(record_schema(kind, key)))
        .response("200", one_written)
        .response("400", rejected.clone())
        .response("413", error("The body is larger than 32 MiB"));
    if versioned {
        one = one.response("412", error("The record changed since the version If-Match names"));
    }
    operations.push((record_path(kind), HttpMethod::Put, with_auth(one, permission).build()));
    if laer_import::deletable(kind) {
        let delete = OperationBuilder::new()
            .summary(Some(format!("Deletes one {kind} record")))
            .description(Some(format!(
                "{} Marks the account's health for computing again; audited.",
                needs(permission)
            )))
            .operation_id(Some(format!("delete_{}", kind.name().replace('-', "_"))))
            .tag("write")
            .parameters(Some(parameters))
            .response(
                "200",
                json_response(
                    "Deleted",
                    Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .property("kind", ObjectBuilder::new().schema_type(Type::String))
                            .property("deleted", ObjectBuilder::new().schema_type(Type::Boolean))
                            .required("kind")
                            .required("deleted")
                            .build(),
                    ),
                ),
            )
            .response("400", rejected)
            .response("404", error("No such record"));
        operations.push((
            record_path(kind),
            HttpMethod::Delete,
            with_auth(delete, permission).build(),
        ));
    }
    operations
}

fn components() -> utoipa::openapi::Components {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("error", text())
        .property(
            "details",
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .description(Some(
                        "what the error concerns: a parameter, a field, a permission, or null",
                    ))
                    .build(),
            ),
        )
        .required("error")
        .required("details")
        .build();
    let problem = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "index",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                .description(Some("the record's place in the request, from 0")),
        )
        .property(
            "field",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("the record's field (its column's name)")),
        )
        .property("message", text())
        .required("index")
        .required("field")
        .required("message")
        .build();
    let rejected = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("error", text())
        .property("details", ArrayBuilder::new().items(Ref::from_schema_name("Problem")))
        .required("error")
        .required("details")
        .build();
    let count = || ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
    let written = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("kind", text())
        .property("written", count().description(Some("records inserted or changed")))
        .property(
            "unchanged",
            count().description(Some("records already stored exactly so")),
        )
        .property(
            "ids",
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Integer, Type::Null])))
                .description(Some(
                    "each record's laer id, in the order given (null for meeting cadences and outcome measurements)",
                )),
        )
        .required("kind")
        .required("written")
        .required("unchanged")
        .required("ids")
        .build();
    ComponentsBuilder::new()
        .schema("Error", error)
        .schema("Problem", problem)
        .schema("Rejected", rejected)
        .schema("Written", written)
        .security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token: laer tokens create, or the admin pages"))
                    .build(),
            ),
        )
        .build()
}

fn build() -> OpenApi {
    let mut paths = Paths::new();
    for read in READS {
        paths.add_path_operation(read.path, vec![read.method.clone()], read_operation(read));
    }
    for kind in crate::records_api::kinds() {
        for (path, method, operation) in write_operations(kind) {
            paths.add_path_operation(path, vec![method], operation);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("laer REST API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Reads of accounts, reports, tasks and playbooks, and writes of records of every import kind. \
                     Errors are `{\"error\", \"details\"}`. Reference: docs/api.md.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components()))
        .security(Some(vec![SecurityRequirement::new("token", Vec::<String>::new())]))
        .build()
}

/// `/api/docs`: the document as a page, rendered on the server (no script).
async fn reference_page() -> Markup {
    let doc = document_value();
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    crate::web::bare_page(
        "laer REST API",
        html! {
            div.api-docs {
                h1 { "laer REST API" }
                p { (prose(doc["info"]["description"].as_str().unwrap_or(""))) }
                p { "The machine-readable document: " a href="/api/v1/openapi.json" { "/api/v1/openapi.json" } " (OpenAPI 3.1)." }
                nav {
                    ul {
                        @for (path, item) in paths {
                            @for (method, _) in item.as_object().unwrap_or(&empty) {
                                li { a href=(format!("#{}", anchor(method, path))) { code { (method.to_uppercase()) " " (path) } } }
                            }
                        }
                    }
                }
                @for (path, item) in paths {
                    @for (method, operation) in item.as_object().unwrap_or(&empty) {
                        (operation_section(method, path, operation, &doc))
                    }
                }
            }
        },
    )
}

fn anchor(method: &str, path: &str) -> String {
    format!("{method}-{path}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(schema: &'a Value, doc: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

fn type_text(schema: &Value) -> String {
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".to_string(),
    };
    match (schema["format"].as_str(), schema["enum"].as_array()) {
        (_, Some(words)) => words.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        (Some(format), None) => format!("{base} ({format})"),
        _ => base,
    }
}

/// Text with `code` spans, as the document's descriptions write them.
fn prose(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

/// An object's fields, each with the other names it is accepted under.
fn fields_table(schema: &Value) -> Markup {
    let empty = serde_json::Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let alias_of = |field: &Value| {
        field["description"]
            .as_str()
            .and_then(|d| d.strip_prefix("another name for "))
            .map(str::to_string)
    };
    let aliases = |name: &str| -> Vec<&str> {
        properties
            .iter()
            .filter(|(_, f)| alias_of(f).as_deref() == Some(name))
            .map(|(a, _)| a.as_str())
            .collect()
    };
    html! {
        table {
            thead { tr { th { "field" } th { "type" } th { "required" } th { "meaning" } th { "also accepted as" } } }
            tbody {
                @for (name, field) in properties {
                    @if alias_of(field).is_none() {
                        tr {
                            td { code { (name) } }
                            td { (type_text(field)) }
                            td { @if required.contains(&name.as_str()) { "yes" } @else { "no" } }
                            td { (prose(field["description"].as_str().unwrap_or(""))) }
                            td { @for (i, alias) in aliases(name).iter().enumerate() { @if i > 0 { ", " } code { (alias) } } }
                        }
                    }
                }
            }
        }
    }
}

fn operation_section(method: &str, path: &str, operation: &Value, doc: &Value) -> Markup {
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let body = &operation["requestBody"]["content"]["application/json"]["schema"];
    let body = resolve(body, doc);
    let records = &body["properties"]["records"]["items"];
    let empty = serde_json::Map::new();
    html! {
        section.api-operation id=(anchor(method, path)) {
            h2 { code { (method.to_uppercase()) " " (path) } }
            p { strong { (operation["summary"].as_str().unwrap_or("")) } }
            p { (prose(operation["description"].as_str().unwrap_or(""))) }
            @if !parameters.is_empty() {
                h3 { "Parameters" }
                table {
                    thead { tr { th { "name" } th { "in" } th { "type" } th { "required" } th { "meaning" } } }
                    tbody {
                        @for p in &parameters {
                            tr {
                                td { code { (p["name"].as_str().unwrap_or("")) } }
                                td { (p["in"].as_str().unwrap_or("")) }
                                td { (type_text(&p["schema"])) }
                                td { @if p["required"].as_bool() == Some(true) { "yes" } @else { "no" } }
                                td { (prose(p["description"].as_str().unwrap_or(""))) }
                            }
                        }
                    }
                }
            }
            @if records.is_object() {
                h3 { "Body: " code { "{\"records\": [...]}" } ", each record:" }
                (fields_table(records))
            } @else if body.is_object() {
                h3 { "Body" }
                (fields_table(body))
            }
            h3 { "Answers" }
            ul {
                @for (status, response) in operation["responses"].as_object().unwrap_or(&empty) {
                    li { code { (status) } " " (response["description"].as_str().unwrap_or("")) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_write_kind() {
        let doc = document_value();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for kind in crate::records_api::kinds() {
            assert!(paths.contains_key(&bulk_path(kind)), "{kind}");
            assert!(paths[&bulk_path(kind)]["post"].is_object(), "{kind}");
            assert!(paths[&record_path(kind)]["put"].is_object(), "{kind}");
        }
        assert!(!paths.contains_key("/api/v1/records/events"));
        // A record's schema is its kind's columns.
        let meeting = &paths["/api/v1/records/meetings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]["records"]["items"];
        for spec in laer_import::columns(Kind::Meetings) {
            assert!(meeting["properties"][spec.name].is_object(), "{}", spec.name);
        }
        assert_eq!(meeting["additionalProperties"], json!(false));
    }
}
