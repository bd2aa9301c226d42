//! Counts and times every request at the outermost layer, once: a REST
//! call reaches the gRPC services in-process, below this layer, so it is
//! counted here as HTTP only.
//!
//! - gRPC and gRPC-web (a `Content-Type` of `application/grpc…`): by
//!   method path and status code name. The status is in the headers of a
//!   trailers-only answer, else in the trailers at the end of the body
//!   (gRPC-web: in the trailer frame at the end of the body), so the body
//!   is wrapped and read as it goes by. An answer dropped before its
//!   status (the client went away) counts as `CANCELLED`.
//! - Everything else: by HTTP method, route template and status.
//!
//! Label values come from fixed sets, never from the raw URL (a route
//! template's `{name}` is written `:name`): a path that
//! is no gRPC method is `other`, one that matches no route is `unmatched`,
//! and a method outside the standard ones is `OTHER`. Handles are made
//! once per label set and kept, in statics shared by every server of the
//! process (the recorder is process-wide too).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{OnceLock, RwLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body::{Frame, SizeHint};
use metrics::{Counter, Histogram};

use super::routes::RouteTable;
use super::{callback, hooks, metrics_route, probes};
use crate::api::descriptors::pool;
use crate::telemetry::metrics::{GRPC_DURATION, GRPC_REQUESTS, HTTP_DURATION, HTTP_REQUESTS, handle};

/// gRPC services served beside `weft.v1`, which are not in its pool.
const OTHER_GRPC_PATHS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.health.v1.Health/List",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The label of a gRPC path no service serves.
const OTHER_METHOD: &str = "other";
/// The route label of a request no route matches.
const UNMATCHED: &str = "unmatched";
/// Routes served by hand, outside the annotations' table.
const HAND_ROUTES: &[&str] = &[
    probes::LIVE_PATH,
    probes::READY_PATH,
    metrics_route::PATH,
    "/openapi.json",
    callback::PATH,
    hooks::PATH,
    hooks::V1_PATH,
];

/// gRPC status code names, by code number.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: usize = 1;
const UNKNOWN: usize = 2;

/// One gRPC method's handles, each made when first used so that methods
/// never called add no lines to `/metrics`.
struct GrpcHandles {
    method: String,
    duration: OnceLock<Histogram>,
    codes: [OnceLock<Counter>; 17],
}

impl GrpcHandles {
    fn new(method: String) -> Self {
        Self { method, duration: OnceLock::new(), codes: std::array::from_fn(|_| OnceLock::new()) }
    }

    fn finish(&self, code: usize, started: Instant) {
        let code = code.min(CODE_NAMES.len() - 1);
        self.codes[code]
            .get_or_init(
                || metrics::counter!(GRPC_REQUESTS.name, "method" => self.method.clone(), "code" => CODE_NAMES[code]),
            )
            .increment(1);
        self.duration
            .get_or_init(|| metrics::histogram!(GRPC_DURATION.name, "method" => self.method.clone()))
            .record(started.elapsed().as_secs_f64());
    }
}

/// Every gRPC method's handles, by path; `other` for the rest.
fn grpc_methods() -> &'static HashMap<String, GrpcHandles> {
    static METHODS: OnceLock<HashMap<String, GrpcHandles>> = OnceLock::new();
    METHODS.get_or_init(|| {
        handle();
        let paths = pool()
            .services()
            .flat_map(|service| {
                let name = service.full_name().to_string();
                service.methods().map(move |method| format!("/{name}/{}", method.name())).collect::<Vec<_>>()
            })
            .chain(OTHER_GRPC_PATHS.iter().map(|path| path.to_string()))
            .chain([OTHER_METHOD.to_string()]);
        paths.map(|path| (path.clone(), GrpcHandles::new(path))).collect()
    })
}

fn grpc_handles(path: &str) -> &'static GrpcHandles {
    let methods = grpc_methods();
    methods.get(path).or_else(|| methods.get(OTHER_METHOD)).expect("`other` is always present")
}

/// One (HTTP method, route)'s handles, made when first used.
struct HttpHandles {
    method: &'static str,
    /// The template with `:name` for `{name}`: some Prometheus text
    /// parsers stop at a `}` inside a label value.
    route: String,
    duration: OnceLock<Histogram>,
    statuses: RwLock<HashMap<u16, Counter>>,
}

impl HttpHandles {
    fn new(method: &'static str, template: &str) -> Self {
        let route = template.replace('{', ":").replace('}', "");
        Self { method, route, duration: OnceLock::new(), statuses: RwLock::new(HashMap::new()) }
    }

    fn count(&self, status: StatusCode) {
        let code = status.as_u16();
        if let Some(counter) = self.statuses.read().expect("status counters").get(&code) {
            counter.increment(1);
            return;
        }
        let mut statuses = self.statuses.write().expect("status counters");
        statuses
            .entry(code)
            .or_insert_with(|| {
                let labels = [("method", self.method), ("route", &self.route), ("status", status.as_str())];
                let labels: Vec<metrics::Label> =
                    labels.iter().map(|(k, v)| metrics::Label::new(*k, v.to_string())).collect();
                metrics::counter!(HTTP_REQUESTS.name, labels)
            })
            .increment(1);
    }

    fn finish(&self, started: Instant) {
        self.duration
            .get_or_init(
                || metrics::histogram!(HTTP_DURATION.name, "method" => self.method, "route" => self.route.clone()),
            )
            .record(started.elapsed().as_secs_f64());
    }
}

/// The HTTP methods labelled by name; any other is `OTHER`.
const METHODS: [(Method, &str); 9] = [
    (Method::GET, "GET"),
    (Method::HEAD, "HEAD"),
    (Method::POST, "POST"),
    (Method::PUT, "PUT"),
    (Method::PATCH, "PATCH"),
    (Method::DELETE, "DELETE"),
    (Method::OPTIONS, "OPTIONS"),
    (Method::CONNECT, "CONNECT"),
    (Method::TRACE, "TRACE"),
];

fn method_label(method: &Method) -> &'static str {
    METHODS.iter().find(|(m, _)| m == method).map_or("OTHER", |(_, label)| label)
}

/// The route table (as the gateway builds it) and the handles of every
/// (method, route) label pair it and the hand-served routes can give.
struct HttpRoutes {
    table: Option<RouteTable>,
    handles: HashMap<(&'static str, &'static str), HttpHandles>,
}

fn http_routes() -> &'static HttpRoutes {
    static ROUTES: OnceLock<HttpRoutes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        handle();
        // The gateway refuses to start on an inconsistent table; here it
        // only means every REST route is `unmatched`.
        let table = RouteTable::from_pool(pool()).ok();
        let mut labels = Vec::new();
        let every_method = METHODS.iter().map(|(_, label)| *label).chain(["OTHER"]);
        for method in every_method {
            labels.extend(HAND_ROUTES.iter().chain([&UNMATCHED]).map(|route| (method, *route)));
        }
        let mut routes = HttpRoutes { table, handles: HashMap::new() };
        for (method, route) in labels {
            routes.handles.insert((method, route), HttpHandles::new(method, route));
        }
        routes
    })
}

/// The handles of a request: its route's, else a hand route's, else
/// `unmatched`.
fn http_handles(method: &Method, path: &str) -> &'static HttpHandles {
    static TABLE_HANDLES: OnceLock<HashMap<(&'static str, &'static str), HttpHandles>> = OnceLock::new();
    let routes = http_routes();
    let label = method_label(method);
    if let Some(table) = &routes.table
        && let Ok((route, _)) = table.find(method, path)
    {
        let table_handles = TABLE_HANDLES.get_or_init(|| {
            let mut handles = HashMap::new();
            for route in table.routes() {
                let method = method_label(&route.http_method);
                handles.insert((method, route.template.as_str()), HttpHandles::new(method, route.template.as_str()));
            }
            handles
        });
        if let Some(found) = table_handles.get(&(label, route.template.as_str())) {
            return found;
        }
    }
    let route = HAND_ROUTES.iter().find(|template| template_matches(template, path)).copied().unwrap_or(UNMATCHED);
    routes.handles.get(&(label, route)).expect("every method label and hand route has handles")
}

/// Whether `path` fits `template`, whose `{name}` segments match one
/// non-empty segment each.
fn template_matches(template: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    for expected in template.split('/') {
        match segments.next() {
            Some(segment) if expected.starts_with('{') => {
                if segment.is_empty() {
                    return false;
                }
            }
            Some(segment) if segment == expected => {}
            Some(_) | None => return false,
        }
    }
    segments.next().is_none()
}

/// The middleware: see the module header.
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    match grpc_content(request.headers()) {
        Some(_) => {
            let handles = grpc_handles(request.uri().path());
            let response = next.run(request).await;
            // The answer's form, which may differ from the request's
            // (gRPC-web-text is answered in binary unless asked otherwise).
            let web = grpc_content(response.headers()).unwrap_or(Web::No);
            // Trailers-only: the status is in the headers, the body empty.
            if let Some(code) = status_code(response.headers()) {
                handles.finish(code, started);
                return response;
            }
            response.map(|inner| {
                Body::new(Watched { inner, started, end: End::Grpc { handles, web, code: None }, done: false })
            })
        }
        None => {
            let handles = http_handles(request.method(), request.uri().path());
            let response = next.run(request).await;
            handles.count(response.status());
            response.map(|inner| Body::new(Watched { inner, started, end: End::Http(handles), done: false }))
        }
    }
}

/// How a gRPC body carries its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Web {
    /// HTTP/2 trailers.
    No,
    /// A trailer frame at the end of the body.
    Binary,
    /// The same, base64.
    Text,
}

/// Whether the request is gRPC, and which kind.
fn grpc_content(headers: &HeaderMap) -> Option<Web> {
    let content_type = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let rest = content_type.strip_prefix("application/grpc")?;
    Some(if rest.starts_with("-web-text") {
        Web::Text
    } else if rest.starts_with("-web") {
        Web::Binary
    } else {
        Web::No
    })
}

fn status_code(headers: &HeaderMap) -> Option<usize> {
    headers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

/// The status in a gRPC-web trailer frame (flag 0x80, length, then
/// `name: value` lines), if `data` is one.
fn web_trailer_code(data: &[u8]) -> Option<usize> {
    let (&flag, rest) = data.split_first()?;
    if flag & 0x80 == 0 || rest.len() < 4 {
        return None;
    }
    let lines = std::str::from_utf8(&rest[4..]).ok()?;
    lines.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("grpc-status").then(|| value.trim().parse().ok())?
    })
}

/// What to record when the body ends.
enum End {
    Grpc { handles: &'static GrpcHandles, web: Web, code: Option<usize> },
    Http(&'static HttpHandles),
}

/// An answer's body, passed through as is, recording at its end (or when
/// dropped before it).
struct Watched {
    inner: Body,
    started: Instant,
    end: End,
    done: bool,
}

impl Watched {
    fn see(&mut self, frame: &Frame<Bytes>) {
        let End::Grpc { web, code, .. } = &mut self.end else { return };
        if let Some(trailers) = frame.trailers_ref() {
            *code = status_code(trailers).or(*code);
            return;
        }
        let Some(data) = frame.data_ref() else { return };
        match web {
            Web::No => {}
            Web::Binary => *code = web_trailer_code(data).or(*code),
            Web::Text => {
                if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(data) {
                    *code = web_trailer_code(&decoded).or(*code);
                }
            }
        }
    }

    fn finish(&mut self, ended: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        match &self.end {
            // No status by the end is the server's fault; none because the
            // body was dropped is the client's leaving.
            End::Grpc { handles, code, .. } => {
                handles.finish(code.unwrap_or(if ended { UNKNOWN } else { CANCELLED }), self.started)
            }
            End::Http(handles) => handles.finish(self.started),
        }
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => this.see(frame),
            Some(Err(_)) | None => this.finish(true),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // A body whose end was never polled: hyper stops at
        // `is_end_stream`, or the client left.
        let ended = http_body::Body::is_end_stream(&self.inner);
        self.finish(ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments_only() {
        assert!(template_matches("/hooks/{webhook_id}", "/hooks/wh_1"));
        assert!(!template_matches("/hooks/{webhook_id}", "/hooks/"));
        assert!(!template_matches("/hooks/{webhook_id}", "/hooks/a/b"));
        assert!(template_matches("/metrics", "/metrics"));
        assert!(!template_matches("/metrics", "/metrics/x"));
    }

    #[test]
    fn a_grpc_web_trailer_frame_gives_its_status() {
        let body = b"grpc-status:5\r\ngrpc-message:no%20run\r\n";
        let mut frame = vec![0x80];
        frame.extend((body.len() as u32).to_be_bytes());
        frame.extend(body);
        assert_eq!(web_trailer_code(&frame), Some(5));
        assert_eq!(web_trailer_code(&[0, 0, 0, 0, 1, 7]), None, "a data frame is no trailer");
    }

    #[test]
    fn rest_paths_are_labelled_by_template_and_unknown_ones_are_unmatched() {
        let found = http_handles(&Method::GET, "/v1/workflows/runs/run_abc");
        assert_eq!((found.method, found.route.as_str()), ("GET", "/v1/workflows/runs/:run_id"));
        let missing = http_handles(&Method::GET, "/no/such/path/123");
        assert_eq!((missing.method, missing.route.as_str()), ("GET", UNMATCHED));
        let probe = http_handles(&Method::POST, "/metrics");
        assert_eq!((probe.method, probe.route.as_str()), ("POST", "/metrics"));
        let hook = http_handles(&Method::POST, "/hooks/wh_1");
        assert_eq!(hook.route, "/hooks/:webhook_id");
        assert_eq!(grpc_handles("/weft.v1.RunService/GetRun").method, "/weft.v1.RunService/GetRun");
        assert_eq!(grpc_handles("/x.Y/Z").method, OTHER_METHOD);
    }
}
