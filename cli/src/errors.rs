//! What can go wrong in a command, how it is told on stderr, and the exit
//! code each case gives: 2 for bad input on this side (a file that cannot
//! be read or parsed, a value out of range), 1 for a refusal by the server
//! or a connection that failed. `runs watch` adds its own codes for the
//! run's outcome (see [`crate::watch`]).

use std::fmt;

use tonic_types::StatusExt;

/// A command's failure.
#[derive(Debug)]
pub enum CliError {
    /// The input given on this side is unusable; nothing was sent.
    Input(String),
    /// The server could not be reached.
    Connect(String),
    /// The server refused the call.
    Server {
        /// The gRPC code, e.g. NotFound.
        code: tonic::Code,
        /// The `google.rpc.ErrorInfo` reason, e.g. WORKFLOW_NOT_FOUND; empty when absent.
        reason: String,
        /// The server's message.
        message: String,
    },
    /// A definition has problems; each was already printed.
    Invalid(usize),
}

impl CliError {
    /// Shorthand for [`CliError::Input`].
    pub fn input(message: impl Into<String>) -> Self {
        Self::Input(message.into())
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Input(_) => 2,
            Self::Connect(_) | Self::Server { .. } | Self::Invalid(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(message) => write!(f, "error: {message}"),
            Self::Connect(message) => write!(f, "error: cannot reach the server: {message}"),
            Self::Server { code, reason, message } if reason.is_empty() => {
                write!(f, "error: {message} ({})", code_name(*code))
            }
            Self::Server { code, reason, message } => write!(f, "error: {message} ({reason}, {})", code_name(*code)),
            Self::Invalid(count) => write!(f, "error: the definition has {count} problem(s)"),
        }
    }
}

/// `NOT_FOUND` for `Code::NotFound`: the spelling gRPC documents.
fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        let details = status.get_error_details();
        let reason = details.error_info().map(|info| info.reason.clone()).unwrap_or_default();
        let mut message = status.message().to_string();
        // Field violations name the exact field at fault; the summary may not.
        if let Some(bad) = details.bad_request() {
            for violation in &bad.field_violations {
                message.push_str(&format!("\n  {}: {}", violation.field, violation.description));
            }
        }
        // A transport failure surfaces as UNAVAILABLE with no details.
        if status.code() == tonic::Code::Unavailable && reason.is_empty() {
            return Self::Connect(message);
        }
        Self::Server { code: status.code(), reason, message }
    }
}

impl From<weft_sdk::Error> for CliError {
    fn from(error: weft_sdk::Error) -> Self {
        match error {
            weft_sdk::Error::Status(status) => status.into(),
            weft_sdk::Error::Connect(e) => Self::Connect(e.to_string()),
            weft_sdk::Error::InvalidKey => Self::input("the API key is not valid header text"),
        }
    }
}

/// A command's result.
pub type CliResult<T = ()> = Result<T, CliError>;
