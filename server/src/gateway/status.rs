//! HTTP status codes of the REST surface: the standard gRPC-to-HTTP mapping,
//! the documented exceptions (422 for an input failing the workflow's
//! inputSchema), and the success codes (201 create, 202 asynchronous start).

use http::StatusCode;
use prost_reflect::MethodDescriptor;
use tonic::Code;

/// Status of a successful call of `method`: 201 for creates (`Create…`,
/// `InstallTemplate`), 202 for asynchronous run starts (an inbound webhook
/// call too), else 200.
pub fn success_status(method: &MethodDescriptor) -> StatusCode {
    let name = method.name();
    if name == "StartRun" || name == "FireWebhook" {
        StatusCode::ACCEPTED
    } else if name.starts_with("Create") || name == "InstallTemplate" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// HTTP status of a gRPC error, refined by its `ErrorInfo` reason: 422
/// for an input failing the inputSchema, 413 for a message over the size
/// limit; any other RESOURCE_EXHAUSTED (a per-tenant limit on run starts or
/// open runs) is 429.
pub fn error_status(code: Code, reason: Option<&str>) -> StatusCode {
    match reason {
        Some("INPUT_SCHEMA_VIOLATION") => return StatusCode::UNPROCESSABLE_ENTITY,
        // A webhook's one-call window ran out: gone until armed again.
        Some("WEBHOOK_WINDOW_EXPIRED") => return StatusCode::GONE,
        Some("MESSAGE_TOO_LARGE" | "BODY_TOO_LARGE") if code == Code::ResourceExhausted => {
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        _ => {}
    }
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        // A well-formed request the resource's state refuses (cancelling a
        // finished run, resuming one that is not paused): a conflict with
        // the target's current state (RFC 9110 §15.5.10), not a malformed
        // request, so that clients and the OpenAPI document tell them apart.
        Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Documented `error_code` when the server gave no reason: the code's name.
pub fn default_error_code(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_exhausted_is_413_for_sizes_and_429_for_limits() {
        let exhausted = |reason| error_status(Code::ResourceExhausted, Some(reason));
        assert_eq!(exhausted("MESSAGE_TOO_LARGE"), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(exhausted("BODY_TOO_LARGE"), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(exhausted("RUN_START_RATE_LIMITED"), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(exhausted("OPEN_RUNS_LIMIT"), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error_status(Code::ResourceExhausted, None), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error_status(Code::InvalidArgument, Some("BODY_TOO_LARGE")), StatusCode::BAD_REQUEST);
    }
}
