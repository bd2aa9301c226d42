//! The only place that builds a `tonic::Status`.
//!
//! Every error carries `google.rpc.ErrorInfo` with an UPPER_SNAKE reason
//! (`WORKFLOW_NOT_FOUND`, `VALIDATION_ERROR`, …) in domain `weft.dev`, so
//! REST clients can be given the documented `error_code`. Definition problems
//! travel as `google.rpc.BadRequest` field violations. A database failure is
//! logged in full and reported as UNAVAILABLE or INTERNAL without its text.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::engine::EngineError;
use crate::engine::compile::Problem;
use crate::store::StoreError;

/// Domain of every `ErrorInfo` Weft sends.
pub const ERROR_DOMAIN: &str = "weft.dev";

/// `code` with an `ErrorInfo` carrying `reason` in [`ERROR_DOMAIN`].
pub fn with_reason(code: Code, message: impl Into<String>, reason: &str) -> Status {
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new()))
}

/// INVALID_ARGUMENT naming one request field.
pub fn invalid_argument(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let mut details = ErrorDetails::with_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, HashMap::new());
    details.add_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, format!("{field}: {message}"), details)
}

/// INVALID_ARGUMENT listing every problem of a definition as a field
/// violation (`field` is the problem's path, `reason` its code).
pub fn invalid_definition(problems: &[Problem]) -> Status {
    let mut details = ErrorDetails::with_error_info("VALIDATION_ERROR", ERROR_DOMAIN, HashMap::new());
    let violations: Vec<FieldViolation> = problems
        .iter()
        .map(|p| {
            let mut violation = FieldViolation::new(p.field.clone(), p.message.clone());
            violation.reason = p.code.as_str().to_string();
            violation
        })
        .collect();
    details.set_bad_request(violations);
    let summary = match problems {
        [only] => only.message.clone(),
        _ => format!(
            "the workflow definition has {} problems: {}",
            problems.len(),
            problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
        ),
    };
    Status::with_error_details(Code::InvalidArgument, summary, details)
}

/// INVALID_ARGUMENT with reason `INPUT_SCHEMA_VIOLATION` (which the REST
/// gateway answers with 422) and one field violation per schema error.
pub fn input_schema_violation(violations: &[(String, String)]) -> Status {
    let mut details = ErrorDetails::with_error_info("INPUT_SCHEMA_VIOLATION", ERROR_DOMAIN, HashMap::new());
    // JSON pointer "/company/name" becomes the field path "input.company.name".
    let fields: Vec<FieldViolation> = violations
        .iter()
        .map(|(path, message)| FieldViolation::new(format!("input{}", path.replace('/', ".")), message.clone()))
        .collect();
    details.set_bad_request(fields);
    let summary = format!(
        "the input does not match the workflow's inputSchema: {}",
        violations
            .iter()
            .map(|(p, m)| format!("{}: {m}", if p.is_empty() { "input" } else { p }))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Status::with_error_details(Code::InvalidArgument, summary, details)
}

/// INVALID_ARGUMENT, reason `MALFORMED_MESSAGE`: the request message is not
/// valid protobuf (the server codec's answer; see `weft_proto::codec`).
pub fn malformed_message(error: prost::DecodeError) -> Status {
    /// prost names every enclosing field of the problem: up to a hundred.
    const KEEP: usize = 300;
    let text = error.to_string();
    let message = if text.ends_with("recursion limit reached") {
        "the request message nests more than 100 messages deep, protobuf's recursion limit \
         (a google.protobuf.Value takes two levels per JSON object or array)"
            .to_string()
    } else if text.len() > KEEP {
        let mut start = text.len() - KEEP;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        format!("the request message is not valid protobuf: …{}", &text[start..])
    } else {
        format!("the request message is not valid protobuf: {text}")
    };
    with_reason(Code::InvalidArgument, message, "MALFORMED_MESSAGE")
}

/// INVALID_ARGUMENT, reason `MALFORMED_FRAME`: the request body is not one
/// well-formed gRPC frame (or not base64, for gRPC-web-text).
pub fn malformed_frame(message: impl Into<String>) -> Status {
    with_reason(Code::InvalidArgument, message, "MALFORMED_FRAME")
}

/// RESOURCE_EXHAUSTED, reason `MESSAGE_TOO_LARGE`: the request message
/// declares more bytes than the configured limit.
pub fn message_too_large(length: usize, limit: usize) -> Status {
    let message = format!("request message of {length} bytes is over the {limit}-byte limit");
    with_reason(Code::ResourceExhausted, message, "MESSAGE_TOO_LARGE")
}

/// UNAVAILABLE: the server is stopping and took no more work.
pub fn shutting_down() -> Status {
    with_reason(Code::Unavailable, "the server is shutting down; retry on another replica or later", "UNAVAILABLE")
}

/// PERMISSION_DENIED, reason `MISDIRECTED_REQUEST`: a request to a
/// loopback listener naming a host it does not answer to (DNS rebinding);
/// REST answers it 421 itself (`gateway::host_check`).
pub fn misdirected(message: impl Into<String>) -> Status {
    with_reason(Code::PermissionDenied, message, "MISDIRECTED_REQUEST")
}

/// PERMISSION_DENIED, reason `CROSS_ORIGIN_REQUEST`: a browser page on an
/// origin not in `[http] cors_origins` tried to change something; REST
/// answers it 403 itself (`gateway::origin_check`).
pub fn cross_origin(message: impl Into<String>) -> Status {
    with_reason(Code::PermissionDenied, message, "CROSS_ORIGIN_REQUEST")
}

/// `status` as a trailers-only gRPC answer (HTTP 200, the status in the
/// headers), for a middleware that refuses a call before any service sees
/// it. A gRPC-web request gets its own content type back, so gRPC-web
/// clients (and the REST gateway) read the status the same way.
pub fn trailers_only(status: Status, request_headers: &http::HeaderMap) -> axum::response::Response {
    let mut response = status.into_http::<axum::body::Body>();
    if let Some(content_type) = request_headers.get(http::header::CONTENT_TYPE)
        && content_type.as_bytes().starts_with(b"application/grpc-web")
    {
        response.headers_mut().insert(http::header::CONTENT_TYPE, content_type.clone());
    }
    response
}

/// PERMISSION_DENIED, reason `SCOPE_INSUFFICIENT`: the caller's key of
/// `scope` may not make this call; the scope travels as metadata.
pub fn scope_insufficient(scope: &str, message: impl Into<String>) -> Status {
    let metadata = HashMap::from([("scope".to_owned(), scope.to_owned())]);
    let details = ErrorDetails::with_error_info("SCOPE_INSUFFICIENT", ERROR_DOMAIN, metadata);
    Status::with_error_details(Code::PermissionDenied, message, details)
}

/// UNIMPLEMENTED for an RPC whose behaviour arrives with a later issue.
pub fn unimplemented(rpc: &str) -> Status {
    with_reason(Code::Unimplemented, format!("{rpc} is not implemented yet"), "NOT_IMPLEMENTED")
}

impl From<EngineError> for Status {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::NotFound { what, reason } => with_reason(Code::NotFound, format!("{what} not found"), reason),
            EngineError::InvalidDefinition(problems) => invalid_definition(&problems),
            EngineError::InvalidArgument { field, message } => invalid_argument(&field, message),
            EngineError::NameTaken { name, holder } => name_taken(&name, holder.as_deref()),
            EngineError::Aborted(message) => with_reason(Code::Aborted, message, "CONFLICT"),
            EngineError::StaleLease(message) => with_reason(Code::Aborted, message, "LEASE_STALE"),
            EngineError::FailedPrecondition { message, reason } => {
                with_reason(Code::FailedPrecondition, message, reason)
            }
            EngineError::InputSchema(violations) => input_schema_violation(&violations),
            EngineError::Timeout { message, run_id } => {
                let metadata = HashMap::from([("runId".to_string(), run_id)]);
                let details = ErrorDetails::with_error_info("EXECUTION_TIMEOUT", ERROR_DOMAIN, metadata);
                Status::with_error_details(Code::DeadlineExceeded, message, details)
            }
            EngineError::ResourceExhausted { message, reason, limit, retry_after } => {
                limit_reached(message, reason, limit, retry_after)
            }
            EngineError::Unavailable(message) => with_reason(Code::Unavailable, message, "UNAVAILABLE"),
            EngineError::Internal(message) => with_reason(Code::Internal, message, "INTERNAL"),
            EngineError::Store(store) => store_failure(store),
        }
    }
}

/// RESOURCE_EXHAUSTED for a per-tenant limit: `ErrorInfo` with the reason
/// and the limit (`limit`, `value` in its metadata), and `RetryInfo` with
/// the wait, which the REST gateway answers as 429 with `Retry-After`.
fn limit_reached(
    message: String,
    reason: &str,
    (limit, value): (&str, u64),
    retry_after: std::time::Duration,
) -> Status {
    let metadata = HashMap::from([("limit".to_owned(), limit.to_owned()), ("value".to_owned(), value.to_string())]);
    let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    details.set_retry_info(Some(retry_after));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// ALREADY_EXISTS, reason `WORKFLOW_NAME_TAKEN` (HTTP 409): another
/// workflow of the tenant has `name`. The `ErrorInfo` metadata names the
/// request field (`field`: `workflow.name`) and the workflow that has the
/// name (`workflowId`, when known), which a `ResourceInfo` repeats; a
/// `BadRequest` violation on `workflow.name` lets form-minded clients
/// point at the field.
pub fn name_taken(name: &str, holder: Option<&str>) -> Status {
    const FIELD: &str = "workflow.name";
    let message = match holder {
        Some(id) => format!("{FIELD}: a workflow named '{name}' already exists ({id}); names are unique per tenant"),
        None => format!("{FIELD}: a workflow named '{name}' already exists; names are unique per tenant"),
    };
    let mut metadata = HashMap::from([("field".to_owned(), FIELD.to_owned()), ("name".to_owned(), name.to_owned())]);
    if let Some(id) = holder {
        metadata.insert("workflowId".to_owned(), id.to_owned());
    }
    let mut details = ErrorDetails::with_error_info("WORKFLOW_NAME_TAKEN", ERROR_DOMAIN, metadata);
    details.set_resource_info("weft.v1.Workflow", holder.unwrap_or_default(), "", format!("has the name '{name}'"));
    details.add_bad_request_violation(FIELD, format!("a workflow named '{name}' already exists"));
    Status::with_error_details(Code::AlreadyExists, message, details)
}

fn store_failure(err: StoreError) -> Status {
    // A taken name is the client's mistake, not the database's: not logged
    // as a failure. (The engine turns it into `EngineError::NameTaken`
    // first; this answers the same should one arrive here.)
    if let StoreError::NameTaken { name } = err {
        return name_taken(&name, None);
    }
    tracing::error!(error = %err, "store failure");
    match err {
        StoreError::Unavailable(_) | StoreError::Unreachable(_) | StoreError::Closed | StoreError::Fenced(_) => {
            with_reason(Code::Unavailable, "the database is unavailable; retry later", "UNAVAILABLE")
        }
        StoreError::NotFound { .. } => with_reason(Code::NotFound, err.to_string(), "NOT_FOUND"),
        StoreError::NameTaken { ref name } => name_taken(name, None),
        StoreError::VersionConflict { .. }
        | StoreError::Corrupt(_)
        | StoreError::Database(_)
        | StoreError::Sqlite(_)
        | StoreError::Migrate(_) => with_reason(Code::Internal, "internal storage error", "INTERNAL"),
    }
}
