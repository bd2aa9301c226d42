//! The REST route table, read from the `google.api.http` annotations of the
//! descriptor pool: every binding of every RPC, primary and additional.
//!
//! Matching is by HTTP method and path shape; where several templates match
//! one path, the one with a literal segment at the first place they differ
//! wins (`/v1/workflows/runs/{run_id}` beats `/v1/workflows/{id}/runs` for
//! `/v1/workflows/runs/x`). Two bindings with the same method and shape are
//! a conflict reported when the table is built, i.e. at server start.

use http::Method;
use prost_reflect::{DescriptorPool, MethodDescriptor, Value};
use weft_proto::google::api::{HttpRule, http_rule::Pattern};

use super::profile::Family;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Binds one path segment to a request field (dotted path, proto names).
    Variable(String),
}

/// Where the request message comes from besides the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMapping {
    /// No body; remaining fields come from the query string.
    None,
    /// `body: "*"`: the JSON body is the request message.
    Whole,
    /// `body: "field"`: the JSON body is that field; the rest from the query.
    Field(String),
}

/// One REST binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub http_method: Method,
    /// The template as written, e.g. `/v1/workflows/{id}/versions`.
    pub template: String,
    /// Parsed segments.
    pub segments: Vec<Segment>,
    /// Custom verb after the last segment (`:validate`), if any.
    pub verb: Option<String>,
    /// How the body maps onto the request.
    pub body: BodyMapping,
    /// Field of the response returned as the HTTP body; `None` for all.
    pub response_body: Option<String>,
    /// The RPC.
    pub method: MethodDescriptor,
    /// `/package.Service/Method`, the gRPC path.
    pub grpc_path: String,
    /// The documented path family, whose profile shapes the answers.
    pub family: Family,
}

impl Route {
    /// Whether the RPC streams its responses.
    pub fn is_streaming(&self) -> bool {
        self.method.is_server_streaming()
    }

    /// Field paths bound by the path template.
    pub fn path_fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(field) => Some(field.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Tries `segments` (already split, verb removed) against this route.
    fn bind(&self, segments: &[&str], verb: Option<&str>) -> Option<Bindings> {
        if segments.len() != self.segments.len() || verb != self.verb.as_deref() {
            return None;
        }
        let mut bound = Vec::new();
        for (have, want) in segments.iter().zip(&self.segments) {
            match want {
                Segment::Literal(text) if text == have => {}
                Segment::Literal(_) => return None,
                Segment::Variable(_) if have.is_empty() => return None,
                Segment::Variable(field) => bound.push((field.clone(), percent_decode(have)?)),
            }
        }
        Some(bound)
    }

    /// Literals, variable slots and verb (`/v1/workflows/{}:validate`):
    /// templates with the same path shape match the same paths whatever
    /// their variable names, so they are one OpenAPI path.
    pub(super) fn path_shape(&self) -> String {
        let parts: Vec<&str> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => text.as_str(),
                Segment::Variable(_) => "{}",
            })
            .collect();
        format!("/{}{}", parts.join("/"), self.verb.as_ref().map(|v| format!(":{v}")).unwrap_or_default())
    }

    /// Shape key for conflict detection: method and [`Self::path_shape`].
    fn shape(&self) -> String {
        format!("{} {}", self.http_method, self.path_shape())
    }
}

/// Path variables bound by a match: (field path, decoded value).
pub type Bindings = Vec<(String, String)>;

/// Why no route answered a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMiss {
    /// The path exists, for other HTTP methods (405): these, in the order
    /// the annotations declare them, each once. They make the `Allow`
    /// header RFC 9110 requires on a 405.
    WrongMethod(Vec<Method>),
    /// No route has this path (404).
    NoPath,
}

impl RouteMiss {
    /// The `Allow` header value of a 405 (`GET, PATCH, DELETE`); `None`
    /// for a missing path.
    pub fn allow_header(&self) -> Option<http::HeaderValue> {
        match self {
            Self::WrongMethod(methods) => {
                let list = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                http::HeaderValue::from_str(&list).ok()
            }
            Self::NoPath => None,
        }
    }
}

/// Every REST route, ready to match.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// A request path split into segments and an optional custom verb.
fn split_path(path: &str) -> (Vec<&str>, Option<&str>) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    let mut verb = None;
    if let Some(last) = segments.last_mut()
        && let Some((head, tail)) = last.rsplit_once(':')
    {
        *last = head;
        verb = Some(tail);
    }
    (segments, verb)
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result
/// is not UTF-8.
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `/v1/workflows/{workflow.id}/graph` or `/v1/workflows:validate`.
fn parse_template(template: &str) -> Result<(Vec<Segment>, Option<String>), String> {
    if !template.starts_with('/') {
        return Err(format!("template '{template}' does not start with '/'"));
    }
    let (raw, verb) = split_path(template);
    let mut segments = Vec::new();
    for part in raw {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if inner.contains('=') || inner.is_empty() {
                return Err(format!("template '{template}': only simple {{field}} variables are supported"));
            }
            segments.push(Segment::Variable(inner.to_string()));
        } else if part.contains('{') || part.contains('}') || part.is_empty() {
            return Err(format!("template '{template}' has a malformed segment '{part}'"));
        } else {
            segments.push(Segment::Literal(part.to_string()));
        }
    }
    Ok((segments, verb.map(str::to_string)))
}

fn http_rule(method: &MethodDescriptor, pool: &DescriptorPool) -> Option<HttpRule> {
    let extension = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    match options.get_extension(&extension).as_ref() {
        Value::Message(rule) => rule.transcode_to::<HttpRule>().ok(),
        _ => None,
    }
}

fn route_from_rule(rule: &HttpRule, method: &MethodDescriptor) -> Result<Route, String> {
    let (http_method, template) = match &rule.pattern {
        Some(Pattern::Get(t)) => (Method::GET, t),
        Some(Pattern::Post(t)) => (Method::POST, t),
        Some(Pattern::Put(t)) => (Method::PUT, t),
        Some(Pattern::Patch(t)) => (Method::PATCH, t),
        Some(Pattern::Delete(t)) => (Method::DELETE, t),
        Some(Pattern::Custom(custom)) => (
            Method::from_bytes(custom.kind.as_bytes()).map_err(|e| format!("{}: {e}", method.full_name()))?,
            &custom.path,
        ),
        None => return Err(format!("{}: an HTTP rule without a pattern", method.full_name())),
    };
    let (segments, verb) = parse_template(template).map_err(|e| format!("{}: {e}", method.full_name()))?;
    let body = match rule.body.as_str() {
        "" => BodyMapping::None,
        "*" => BodyMapping::Whole,
        field => BodyMapping::Field(field.to_string()),
    };
    let family = Family::of(template);
    Ok(Route {
        http_method,
        template: template.clone(),
        segments,
        verb,
        body,
        response_body: Some(rule.response_body.clone()).filter(|f| !f.is_empty()),
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        method: method.clone(),
        family,
    })
}

impl RouteTable {
    /// Reads every annotated RPC of `pool`. Fails listing every malformed
    /// template and every pair of conflicting bindings.
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, Vec<String>> {
        let mut routes = Vec::new();
        let mut problems = Vec::new();
        for service in pool.services() {
            for method in service.methods() {
                let Some(rule) = http_rule(&method, pool) else { continue };
                for binding in std::iter::once(&rule).chain(rule.additional_bindings.iter()) {
                    match route_from_rule(binding, &method) {
                        Ok(route) => routes.push(route),
                        Err(problem) => problems.push(problem),
                    }
                }
            }
        }
        problems.extend(conflicts(&routes));
        if problems.is_empty() { Ok(Self { routes }) } else { Err(problems) }
    }

    /// Every route, in declaration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for `method` and `path`, with the path variables it binds.
    pub fn find(&self, method: &Method, path: &str) -> Result<(&Route, Bindings), RouteMiss> {
        let (segments, verb) = split_path(path);
        let mut best: Option<(&Route, Bindings)> = None;
        let mut allowed: Vec<Method> = Vec::new();
        for route in &self.routes {
            let bound = route.bind(&segments, verb).or_else(|| {
                // A colon inside the last segment that is not a known verb is part of the value.
                verb.and(route.bind(&split_path_without_verb(path), None))
            });
            let Some(bound) = bound else { continue };
            if !allowed.contains(&route.http_method) {
                allowed.push(route.http_method.clone());
            }
            if route.http_method != *method {
                continue;
            }
            best = match best {
                Some((current, current_bound)) if !more_literal(route, current) => Some((current, current_bound)),
                _ => Some((route, bound)),
            };
        }
        best.ok_or(if allowed.is_empty() { RouteMiss::NoPath } else { RouteMiss::WrongMethod(allowed) })
    }
}

/// One message per pair of bindings with the same method and shape.
fn conflicts(routes: &[Route]) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, &Route> = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for route in routes {
        if let Some(first) = seen.insert(route.shape(), route) {
            problems.push(format!(
                "conflicting REST bindings: {} {} ({}) and {} ({})",
                route.http_method,
                route.template,
                route.method.full_name(),
                first.template,
                first.method.full_name()
            ));
        }
    }
    problems
}

fn split_path_without_verb(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

/// Whether `a` has a literal where `b` has a variable at the first segment
/// where they differ.
fn more_literal(a: &Route, b: &Route) -> bool {
    for (x, y) in a.segments.iter().zip(&b.segments) {
        match (x, y) {
            (Segment::Literal(_), Segment::Variable(_)) => return true,
            (Segment::Variable(_), Segment::Literal(_)) => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_pool(crate::api::descriptors::pool()).expect("the API's bindings do not conflict")
    }

    fn rpc(table: &RouteTable, method: Method, path: &str) -> String {
        let (route, _) = table.find(&method, path).unwrap_or_else(|_| panic!("no route for {method} {path}"));
        route.method.name().to_string()
    }

    #[test]
    fn literal_segments_win_over_variables() {
        let t = table();
        assert_eq!(rpc(&t, Method::GET, "/v1/workflows/runs/wfrun_1"), "GetRun");
        assert_eq!(rpc(&t, Method::GET, "/v1/workflows/wf_1/runs"), "ListRuns");
        assert_eq!(rpc(&t, Method::GET, "/api/workflows/templates"), "ListTemplates");
        assert_eq!(rpc(&t, Method::POST, "/api/workflows/validate"), "ValidateWorkflow");
        assert_eq!(rpc(&t, Method::GET, "/api/workflows/runs/run_1"), "GetRun");
        assert_eq!(rpc(&t, Method::GET, "/api/workflows/wf_1"), "GetWorkflow");
        assert_eq!(rpc(&t, Method::POST, "/v1/workflows:validate"), "ValidateWorkflow");
    }

    #[test]
    fn path_variables_bind_to_nested_fields_and_are_decoded() {
        let t = table();
        let (route, bound) = t.find(&Method::PATCH, "/v1/workflows/wf%5F1").unwrap();
        assert_eq!(route.method.name(), "UpdateWorkflow");
        assert_eq!(bound, vec![("workflow.id".to_string(), "wf_1".to_string())]);
    }

    #[test]
    fn wrong_method_and_unknown_path_are_told_apart() {
        let t = table();
        let miss = t.find(&Method::PUT, "/v1/workflows/runs/x/stream").unwrap_err();
        assert_eq!(miss, RouteMiss::WrongMethod(vec![Method::GET]));
        assert_eq!(miss.allow_header().unwrap(), "GET");
        assert_eq!(t.find(&Method::GET, "/v2/nothing").unwrap_err(), RouteMiss::NoPath);
        assert_eq!(RouteMiss::NoPath.allow_header(), None);
    }

    #[test]
    fn a_wrong_method_lists_every_method_of_the_path_once() {
        let t = table();
        // GET (GetWorkflow), PATCH (UpdateWorkflow), DELETE (DeleteWorkflow) share /v1/workflows/{id}.
        let Err(miss) = t.find(&Method::PUT, "/v1/workflows/wf_1") else { panic!("PUT is not bound") };
        let allow = miss.allow_header().unwrap();
        let mut methods: Vec<&str> = allow.to_str().unwrap().split(", ").collect();
        methods.sort_unstable();
        assert_eq!(methods, ["DELETE", "GET", "PATCH"]);
    }

    #[test]
    fn conflicting_bindings_are_reported() {
        let routes = table().routes().to_vec();
        assert!(conflicts(&routes).is_empty());
        let mut renamed = routes[0].clone();
        renamed.template = renamed.template.replace('{', "{other_");
        renamed.segments = renamed
            .segments
            .iter()
            .map(|s| match s {
                Segment::Variable(f) => Segment::Variable(format!("other_{f}")),
                literal => literal.clone(),
            })
            .collect();
        let reported = conflicts(&[routes[0].clone(), renamed]);
        assert_eq!(reported.len(), 1, "same method and shape conflict whatever the variable names");
        assert!(reported[0].contains(&routes[0].template), "{reported:?}");
        assert!(parse_template("/v1/{a=**}").is_err());
        assert!(parse_template("v1/x").is_err());
    }
}
