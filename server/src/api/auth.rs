//! Authentication and authorization of every `weft.v1` call, for gRPC,
//! gRPC-web and REST alike (the REST gateway calls the same router, passing
//! the `authorization` and `x-api-key` headers on).
//!
//! [`check`] runs before anything reads the body. It finds the operation a
//! method is ([`OperationTable`], built once from the descriptor pool, so a
//! new RPC is covered without a list to keep), asks the [`KeyRing`] who the
//! key belongs to, checks the key's scope allows the operation, and hands
//! the [`Caller`] to the handler in the request's extensions. Handlers take
//! their tenant from there ([`tenant`]); nothing else decides a tenant.
//!
//! Health, reflection, any path outside `weft.v1`, and the two calls that
//! carry their own signatures (inbound trigger webhooks, webhook callbacks)
//! pass unchecked.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};
use tonic::{Code, Status};

use crate::api::{descriptors, error};
use crate::engine::keys::{Caller, KeyRefusal, KeyRing};
use crate::model::Operation;

/// Services whose every method manages credentials (a notification
/// subscription holds a signing secret and sends run data out).
const MANAGING_SERVICES: &[&str] = &["weft.v1.KeyService", "weft.v1.SecretService", "weft.v1.NotificationService"];
/// The worker protocol.
const WORKER_SERVICE: &str = "weft.v1.WorkerService";
/// Method-name prefixes of calls that change nothing.
const READ_PREFIXES: &[&str] = &["Get", "List", "Stream", "Estimate", "Diff", "Validate"];
/// Calls authenticated by their own signature, not by an API key: the
/// inbound trigger webhook and the signed webhook callback.
const SIGNED_METHODS: &[&str] = &["/weft.v1.TriggerService/FireWebhook", "/weft.v1.TriggerService/DeliverCallback"];

/// The operation each `/weft.v1.Service/Method` path is.
pub struct OperationTable {
    by_path: HashMap<String, Operation>,
}

impl OperationTable {
    /// The table of every method in the API's descriptor pool.
    pub fn get() -> &'static OperationTable {
        static TABLE: OnceLock<OperationTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut by_path = HashMap::new();
            for service in descriptors::pool().services().filter(|s| s.package_name() == "weft.v1") {
                for method in service.methods() {
                    let path = format!("/{}/{}", service.full_name(), method.name());
                    if SIGNED_METHODS.contains(&path.as_str()) {
                        continue;
                    }
                    by_path.insert(path, operation_of(service.full_name(), method.name()));
                }
            }
            OperationTable { by_path }
        })
    }

    /// The operation of the method at `path`; `None` outside `weft.v1`.
    pub fn operation(&self, path: &str) -> Option<Operation> {
        self.by_path.get(path).copied()
    }

    /// Every (path, operation), for tests and docs.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Operation)> {
        self.by_path.iter().map(|(path, op)| (path.as_str(), *op))
    }
}

/// The operation of `method` of `service`.
pub fn operation_of(service: &str, method: &str) -> Operation {
    let reads = READ_PREFIXES.iter().any(|prefix| method.starts_with(prefix));
    if MANAGING_SERVICES.contains(&service) {
        Operation::Manage
    } else if service == WORKER_SERVICE {
        if reads { Operation::WorkRead } else { Operation::Work }
    } else if reads {
        Operation::Read
    } else {
        Operation::Write
    }
}

/// The key a request presents: `authorization: Bearer <key>`, or
/// `x-api-key: <key>`. `Err` when a header is there but unreadable, or
/// uses another scheme (a key must never be silently ignored).
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, KeyRefusal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| KeyRefusal::Malformed)?.trim();
        let (scheme, key) = text.split_once(' ').ok_or(KeyRefusal::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(KeyRefusal::Malformed);
        }
        return Ok(Some(key.trim()));
    }
    match headers.get("x-api-key") {
        Some(value) => Ok(Some(value.to_str().map_err(|_| KeyRefusal::Malformed)?.trim())),
        None => Ok(None),
    }
}

/// The status of a refused key.
fn refusal_status(refusal: &KeyRefusal) -> Status {
    let (code, reason) = match refusal {
        KeyRefusal::Missing => (Code::Unauthenticated, "API_KEY_REQUIRED"),
        KeyRefusal::Malformed => (Code::Unauthenticated, "API_KEY_MALFORMED"),
        KeyRefusal::Invalid => (Code::Unauthenticated, "API_KEY_INVALID"),
        KeyRefusal::Unavailable => (Code::Unavailable, "UNAVAILABLE"),
    };
    error::with_reason(code, refusal.to_string(), reason)
}

/// PERMISSION_DENIED for a key whose scope does not allow `operation`.
fn scope_status(caller: &Caller, operation: Operation, path: &str) -> Status {
    let needed = match operation {
        Operation::Read => "read (or write, admin)",
        Operation::Write => "write (or admin)",
        Operation::Work => "worker (or write, admin)",
        Operation::WorkRead => "read, worker, write or admin",
        Operation::Manage => "admin",
    };
    let method = path.rsplit('/').next().unwrap_or(path);
    let message = format!("a key of scope '{}' may not call {method}: it needs {needed}", caller.scope);
    error::scope_insufficient(caller.scope.as_str(), message)
}

/// A refusal in the request's wire format (`error::trailers_only`), saying
/// which scheme authenticates.
fn refuse(status: Status, request_headers: &HeaderMap) -> Response {
    let mut response = error::trailers_only(status, request_headers);
    response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}

/// Middleware: decides the caller of a `weft.v1` call, or refuses it.
pub async fn check(keys: Arc<KeyRing>, mut request: Request, next: Next) -> Response {
    let Some(operation) = OperationTable::get().operation(request.uri().path()) else {
        return next.run(request).await;
    };
    let verified = match presented_key(request.headers()) {
        Ok(key) => keys.verify(key).await,
        Err(refusal) => Err(refusal),
    };
    let caller = match verified {
        Ok(caller) => caller,
        Err(refusal) => return refuse(refusal_status(&refusal), request.headers()),
    };
    if !caller.scope.allows(operation) {
        let status = scope_status(&caller, operation, request.uri().path());
        return refuse(status, request.headers());
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller of a request that passed [`check`].
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
    // Without the middleware there is no caller: refuse rather than guess
    // a tenant.
    request.extensions().get::<Caller>().ok_or_else(|| refusal_status(&KeyRefusal::Missing))
}

/// The tenant a request acts for.
pub fn tenant<T>(request: &tonic::Request<T>) -> Result<String, Status> {
    caller(request).map(|caller| caller.tenant.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_the_operation_its_name_and_service_say() {
        let table = OperationTable::get();
        assert_eq!(table.operation("/weft.v1.RunService/GetRun"), Some(Operation::Read));
        assert_eq!(table.operation("/weft.v1.RunService/StreamRunEvents"), Some(Operation::Read));
        assert_eq!(table.operation("/weft.v1.RunService/EstimateRun"), Some(Operation::Read));
        assert_eq!(table.operation("/weft.v1.RunService/StartRun"), Some(Operation::Write));
        assert_eq!(table.operation("/weft.v1.WorkflowService/DeleteWorkflow"), Some(Operation::Write));
        assert_eq!(table.operation("/weft.v1.WorkerService/PollTask"), Some(Operation::Work));
        assert_eq!(table.operation("/weft.v1.WorkerService/ListWorkers"), Some(Operation::WorkRead));
        assert_eq!(table.operation("/weft.v1.KeyService/ListKeys"), Some(Operation::Manage));
        assert_eq!(table.operation("/weft.v1.WorkflowService/DiffWorkflowVersions"), Some(Operation::Read));
        assert_eq!(table.operation("/weft.v1.TriggerService/FireWebhook"), None, "signed, not keyed");
        assert_eq!(table.operation("/grpc.health.v1.Health/Check"), None);
        assert!(table.entries().count() > 30, "every weft.v1 method is in the table");
    }

    #[test]
    fn keys_are_read_from_bearer_or_x_api_key_and_other_schemes_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(presented_key(&headers(&[("authorization", "Bearer wk_x")])), Ok(Some("wk_x")));
        assert_eq!(presented_key(&headers(&[("authorization", "bearer  wk_x ")])), Ok(Some("wk_x")));
        assert_eq!(presented_key(&headers(&[("x-api-key", "wk_y")])), Ok(Some("wk_y")));
        assert_eq!(presented_key(&headers(&[("authorization", "Basic abc")])), Err(KeyRefusal::Malformed));
        assert_eq!(presented_key(&headers(&[("authorization", "wk_x")])), Err(KeyRefusal::Malformed));
        assert_eq!(presented_key(&headers(&[])), Ok(None));
    }
}
