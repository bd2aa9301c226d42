//! The OpenAPI 3.1 description of the REST surface, generated from the same
//! descriptor pool and `google.api.http` annotations the gateway routes by,
//! so it can never drift from what is served.
//!
//! - One path item per path shape. Template variables become parameter names
//!   with dots replaced by underscores (`{workflow.id}` -> `{workflow_id}`);
//!   templates that differ only in variable names (which OpenAPI treats as
//!   the same path) share one key, named after the first of them. Custom
//!   verbs stay literal (`/v1/workflows:validate`).
//! - One operation per binding: `Service_Method`, then `Service_Method_2`,
//!   `_3`… for the additional bindings, tagged with the service name.
//! - Path variables are required path parameters; when the body is not `*`,
//!   every remaining top-level field with a scalar JSON form is a query
//!   parameter under its JSON name.
//! - Schemas follow the REST JSON conventions of [`super::json`]: camelCase
//!   keys (`json_name` honoured), enums as their lower-case short names,
//!   64-bit integers as numbers, well-known types in their JSON form.
//!   Messages and enums are components keyed by full name
//!   (`weft.v1.Workflow`); recursive messages refer to themselves.
//! - What the request checks enforce beyond the types ([`rules`]):
//!   required fields, bounds, id patterns, fields that exclude one another.
//!   Objects refuse unknown keys (`additionalProperties: false`); a field
//!   not required also takes `null`, which protobuf JSON reads as unset.
//! - Success status from [`super::status::success_status`]; every error is
//!   the `Error` schema, under the statuses the operation can answer (400,
//!   404, 403 and 409 for writes, 413 and 415 with a body, 421 for a Host a
//!   loopback server does not answer to, 422 for run inputs, 429 for the
//!   calls that start runs) and
//!   `default`. Server-streaming RPCs answer `text/event-stream` or
//!   `application/x-ndjson`.
//! - Descriptions come from the proto comments (source info kept by protox).

mod envelopes;
mod rules;

use std::collections::{BTreeMap, HashMap};

use http::Method;
use prost_reflect::{EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::enum_names::enum_value_json_name;
use super::profile::{ErrorForm, Naming};
use super::routes::{BodyMapping, Route, RouteTable, Segment};
use super::status::success_status;
use rules::{body_rule, field_rule, id_schema, message_rule, required_fields};

/// Where component schemas live.
const SCHEMAS: &str = "#/components/schemas/";
/// Name of the error body schema.
const ERROR_SCHEMA: &str = "Error";

const INFO_DESCRIPTION: &str = "\
The REST/JSON surface of Weft, transcoded from the gRPC API (`weft.v1`) and \
generated from its `google.api.http` annotations.

- JSON is protobuf's canonical mapping with lowerCamelCase keys; snake_case \
keys are accepted on input. Fields at their default value are omitted.
- Enum values are written in their documented short lower-case form \
(`running`, `active`); the protobuf spelling (`RUN_STATUS_RUNNING`) is \
accepted on input.
- `null` for a field the operation does not require means unset (its \
default), as in protobuf JSON; unknown keys are refused.
- 64-bit integers are JSON numbers.
- Errors are a `google.rpc.Status` (`code`, `message`, `details`) that also \
carries `error` (the message) and `error_code` (the `ErrorInfo` reason, or \
the gRPC code's name).
- Server-streaming methods answer Server-Sent Events (`text/event-stream`, \
`id: <sequence>`, resumable with `Last-Event-ID`) or NDJSON \
(`application/x-ndjson`), chosen by the Accept header.
- The other documented path families answer in their own documents' shapes \
(a response profile per family): `/v1/agents` and `/v1/workflow-runs` wrap \
runs as `{output, run_id}`; `/workflows` lists as `{data, meta}` and shows \
executions with `currentState` and `stateHistory`; `/api/workflows` writes \
snake_case keys (component schemas prefixed `api.`), `step_runs`, and the \
error bodies its document lists per route (`ErrorPlain`, `ErrorStructured`).";

/// OpenAPI 3.1 document of every REST route, generated from the descriptors
/// and annotations (never hand-written).
pub fn document(table: &RouteTable) -> Value {
    let mut builder = Builder::default();
    let mut paths = Map::new();
    // Path shape -> (path key, parameter names in template order).
    let mut keys: HashMap<String, (String, Vec<String>)> = HashMap::new();
    let mut bindings: HashMap<String, usize> = HashMap::new();
    let mut tags: Vec<Value> = Vec::new();

    for route in table.routes() {
        let Some(method) = operation_method(&route.http_method) else { continue };
        let service = route.method.parent_service();
        let base_id = format!("{}_{}", service.name(), route.method.name());
        let nth = bindings.entry(base_id.clone()).or_insert(0);
        *nth += 1;
        let operation_id = if *nth == 1 { base_id } else { format!("{base_id}_{nth}") };
        if !tags.iter().any(|t| t["name"] == service.name()) {
            let mut tag = json!({"name": service.name()});
            if let Some(text) = builder.comments.get(&service.parent_file(), service.path()) {
                tag["description"] = Value::String(text);
            }
            tags.push(tag);
        }

        let (key, names) = keys.entry(route.path_shape()).or_insert_with(|| path_key(route)).clone();
        let operation = builder.operation(route, &names, operation_id);
        let item = paths.entry(key).or_insert_with(|| Value::Object(Map::new()));
        item[method] = operation;
    }

    let mut schemas = Map::new();
    schemas.insert(ERROR_SCHEMA.to_string(), error_schema());
    schemas.extend(envelopes::error_form_schemas());
    schemas.extend(builder.schemas);

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Weft API",
            "version": "v1",
            "description": INFO_DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The path item key of an HTTP method; `None` for methods OpenAPI cannot
/// describe.
fn operation_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "get",
        Method::PUT => "put",
        Method::POST => "post",
        Method::DELETE => "delete",
        Method::PATCH => "patch",
        Method::HEAD => "head",
        Method::OPTIONS => "options",
        Method::TRACE => "trace",
        _ => return None,
    })
}

/// The OpenAPI path of a template and its parameter names:
/// `/v1/workflows/{workflow.id}` -> `/v1/workflows/{workflow_id}`.
fn path_key(route: &Route) -> (String, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut parts = Vec::new();
    for segment in &route.segments {
        match segment {
            Segment::Literal(text) => parts.push(text.clone()),
            Segment::Variable(field) => {
                let base = field.replace('.', "_");
                let mut name = base.clone();
                let mut n = 1;
                while names.contains(&name) {
                    n += 1;
                    name = format!("{base}_{n}");
                }
                parts.push(format!("{{{name}}}"));
                names.push(name);
            }
        }
    }
    let verb = route.verb.as_ref().map(|v| format!(":{v}")).unwrap_or_default();
    (format!("/{}{verb}", parts.join("/")), names)
}

/// The field a dotted path (`workflow.id`) names in `message`.
fn resolve_field(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current.get_field_by_name(part)?;
        if parts.peek().is_none() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
            _ => return None,
        }
    }
    None
}

/// The body of every error response.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "An error: a google.rpc.Status (`code`, `message`, `details`) that also carries \
            the documented `error` and `error_code`.",
        "properties": {
            "code": {"type": "integer", "description": "The gRPC status code (5 for NOT_FOUND)."},
            "message": {"type": "string", "description": "What went wrong, for people."},
            "details": {
                "type": "array",
                "description": "Typed details (google.rpc.ErrorInfo, google.rpc.BadRequest…), each with its `@type`.",
                "items": {"type": "object"},
            },
            "error": {"type": "string", "description": "Same as `message`."},
            "error_code": {
                "type": "string",
                "description": "UPPER_SNAKE reason from the ErrorInfo detail (`INPUT_SCHEMA_VIOLATION`, \
                    `EXECUTION_TIMEOUT`…), else the gRPC code's name (`NOT_FOUND`).",
            },
        },
        "required": ["code", "message"],
    })
}

/// An error response: the `Error` body, or the smaller body of `form`.
fn error_response(description: &str, form: ErrorForm) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": envelopes::error_ref(form)}},
    })
}

/// The error statuses an operation answers besides `default`.
fn error_responses(route: &Route) -> Vec<(&'static str, &'static str)> {
    let mut codes = vec![
        (
            "400",
            "The request is malformed: not JSON, an unknown field, a wrong type, a value outside a documented \
             bound (nesting depth, integer range, length, count), or a definition with problems. The message \
             names the field.",
        ),
        ("404", "No such resource (or another tenant's), or no route for the path."),
    ];
    // Calls checked by key: every `weft.v1` RPC but the two signed ones.
    let keyed = crate::api::auth::OperationTable::get().operation(&route.grpc_path).is_some();
    if keyed {
        codes.push((
            "401",
            "No API key, or a malformed, unknown or revoked one (API_KEY_REQUIRED, API_KEY_MALFORMED, \
             API_KEY_INVALID). Send `Authorization: Bearer wk_…` or `x-api-key`.",
        ));
    }
    if keyed || route.http_method != Method::GET {
        codes.push((
            "403",
            "The key's scope does not allow the call (SCOPE_INSUFFICIENT), or a browser page on an origin not in \
             `[http] cors_origins` tried to change something (CROSS_ORIGIN_REQUEST).",
        ));
    }
    if route.http_method != Method::GET {
        codes.push((
            "409",
            "The resource's state or version refuses the change (FAILED_PRECONDITION, ABORTED, ALREADY_EXISTS): \
             a finished run cannot be cancelled, a stale expected version…",
        ));
    }
    if route.body != BodyMapping::None {
        codes.push(("413", "The request body is over the size limit."));
        // DeliverCallback's route is served by hand and takes any type:
        // its signature covers the raw body (`super::callback`).
        if route.method.name() != "DeliverCallback" {
            codes.push((
                "415",
                "The body is not declared `application/json` (optionally with `charset=utf-8`); a body needs a \
                 Content-Type.",
            ));
        }
    }
    codes.push((
        "421",
        "The server listens on loopback and the Host names neither a loopback name nor one of \
         `[http] allowed_hosts` (refused against DNS rebinding).",
    ));
    let starts_a_run = route.method.parent_service().name() == "RunService"
        && route.method.input().get_field_by_name("input").is_some();
    if starts_a_run {
        codes.push(("422", "The run input does not match the workflow's `inputSchema`."));
    }
    if creates_a_run(route) {
        codes.push((
            "429",
            "A per-tenant limit refuses the start: run starts per second (`RUN_START_RATE_LIMITED`) or open \
             runs (`OPEN_RUNS_LIMIT`). `Retry-After` gives the seconds to wait; nothing was stored.",
        ));
    }
    codes
}

/// Whether a call of the route can make a new run, so the per-tenant
/// limits of [`crate::engine::admission`] apply to it (ResumeRun continues
/// a finished run as a new one).
fn creates_a_run(route: &Route) -> bool {
    route.method.parent_service().name() == "RunService"
        && matches!(
            route.method.name(),
            "StartRun" | "ExecuteWorkflow" | "ExecuteWorkflowStream" | "RetryRunFrom" | "ResumeRun"
        )
}

/// Leading comments of the descriptors, by file and source path.
#[derive(Default)]
struct Comments {
    by_file: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn get(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let comments = self.by_file.entry(file.name().to_string()).or_insert_with(|| {
            let mut map = HashMap::new();
            if let Some(info) = &file.file_descriptor_proto().source_code_info {
                for location in &info.location {
                    if let Some(text) = location.leading_comments.as_deref().and_then(clean_comment) {
                        map.insert(location.path.clone(), text);
                    }
                }
            }
            map
        });
        comments.get(path).cloned()
    }
}

/// A proto comment as Markdown: one leading space per line removed, outer
/// blank lines dropped.
fn clean_comment(raw: &str) -> Option<String> {
    let lines: Vec<&str> = raw.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The first sentence of a comment's first paragraph, on one line.
fn summary(text: &str) -> String {
    let paragraph = text.split("\n\n").next().unwrap_or(text).split_whitespace().collect::<Vec<_>>().join(" ");
    match paragraph.find(". ") {
        Some(end) => paragraph[..=end].to_string(),
        None => paragraph,
    }
}

/// Builds operations and collects the component schemas they refer to.
struct Builder {
    schemas: BTreeMap<String, Value>,
    comments: Comments,
    /// The keys object schemas are written with: JSON names for requests,
    /// the route family's for its answers.
    naming: Naming,
}

impl Default for Builder {
    fn default() -> Self {
        Self { schemas: BTreeMap::new(), comments: Comments::default(), naming: Naming::JSON }
    }
}

impl Builder {
    fn operation(&mut self, route: &Route, names: &[String], operation_id: String) -> Value {
        let rpc = &route.method;
        let input = rpc.input();
        let mut operation = Map::new();
        operation.insert("operationId".into(), operation_id.into());
        operation.insert("tags".into(), json!([rpc.parent_service().name()]));
        if let Some(text) = self.comments.get(&rpc.parent_file(), rpc.path()) {
            operation.insert("summary".into(), summary(&text).into());
            operation.insert("description".into(), text.into());
        }
        operation.insert("x-grpc-method".into(), route.grpc_path.clone().into());

        let path_fields: Vec<&str> = route.path_fields().collect();
        let mut parameters = Vec::new();
        for (field_path, name) in path_fields.iter().zip(names) {
            parameters.push(self.path_parameter(&input, field_path, name));
        }
        if route.body != BodyMapping::Whole {
            for field in input.fields() {
                let bound = path_fields.iter().any(|p| *p == field.name());
                let in_body = matches!(&route.body, BodyMapping::Field(f) if f == field.name());
                if bound || in_body || !is_query_field(&field) {
                    continue;
                }
                let mut schema = self.constrained_field_schema(&field);
                if matches!(field.kind(), Kind::Enum(_)) {
                    // A query string is text: enum numbers are read only from JSON bodies.
                    constrain(&mut schema, json!({"type": "string"}));
                }
                let mut parameter = json!({
                    "name": field.json_name(),
                    "in": "query",
                    "required": required_fields(input.full_name()).contains(&field.name()),
                    "schema": schema,
                });
                if let Some(text) = self.comments.get(&field.parent_file(), field.path()) {
                    parameter["description"] = text.into();
                }
                parameters.push(parameter);
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), parameters.into());
        }

        match &route.body {
            BodyMapping::None => {}
            BodyMapping::Whole => {
                let top_level_bound: Vec<&str> = path_fields.iter().copied().filter(|p| !p.contains('.')).collect();
                let schema = if top_level_bound.is_empty() {
                    self.message_ref(&input)
                } else {
                    self.object_schema(&input, &top_level_bound)
                };
                // A body may be left out when the message requires nothing.
                let required =
                    !required_fields(input.full_name()).is_empty() || message_rule(input.full_name()).is_some();
                operation.insert(
                    "requestBody".into(),
                    json!({"required": required, "content": {"application/json": {"schema": schema}}}),
                );
            }
            BodyMapping::Field(name) => {
                let mut schema = match input.get_field_by_name(name) {
                    Some(field) => self.constrained_field_schema(&field),
                    None => json!({}),
                };
                if let Some(rule) = body_rule(rpc.name()) {
                    constrain(&mut schema, rule);
                }
                let mut body = json!({"required": true, "content": {"application/json": {"schema": schema}}});
                if let Some(text) = input
                    .get_field_by_name(name)
                    .and_then(|field| self.comments.get(&field.parent_file(), field.path()))
                {
                    body["description"] = text.into();
                }
                operation.insert("requestBody".into(), body);
            }
        }

        let output = rpc.output();
        let profile = route.family.profile();
        let form = profile.error_form(&route.http_method, &route.template);
        self.naming = profile.naming;
        let written = match route.response_body.as_deref().and_then(|f| output.get_field_by_name(f)) {
            Some(field) => self.field_schema(&field),
            None => self.message_ref(&output),
        };
        let body_schema = self.envelope(profile.answer(rpc.name()), &output, written);
        self.naming = Naming::JSON;
        let status = success_status(rpc);
        let content = if route.is_streaming() {
            json!({
                "text/event-stream": {
                    // OpenAPI 3.1 has `schema` describe each event of a
                    // sequential media type (3.2 calls it itemSchema).
                    "schema": {
                        "type": "object",
                        "description": "One Server-Sent Event per message: `data:` holds its JSON (the \
                            x-item-schema), `id:` the run event sequence, `event:` its type; a stream that \
                            fails after its first event ends with an `error` event holding the Error body.",
                        "properties": {
                            "event": {"type": "string"},
                            "id": {"type": "string"},
                            "retry": {"type": "integer"},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {
                                    "anyOf": [body_schema.clone(), envelopes::stream_error_schema(form)]
                                },
                            },
                        },
                        "required": ["data"],
                    },
                    "x-item-schema": body_schema.clone(),
                },
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "Newline-delimited JSON: one message (the x-item-schema) per line.",
                    },
                    "x-item-schema": body_schema,
                },
            })
        } else {
            json!({"application/json": {"schema": body_schema}})
        };
        let description = status.canonical_reason().unwrap_or("Success");
        let mut responses = Map::new();
        responses.insert(status.as_str().into(), json!({"description": description, "content": content}));
        for (code, text) in error_responses(route) {
            responses.insert(code.into(), error_response(text, form));
        }
        for (code, text) in envelopes::outcome_errors(profile.answer(rpc.name())) {
            responses.insert(code.into(), error_response(text, form));
        }
        responses
            .insert("default".into(), error_response("Any other error (gRPC code mapped to its HTTP status).", form));
        operation.insert("responses".into(), Value::Object(responses));
        Value::Object(operation)
    }

    fn path_parameter(&mut self, input: &MessageDescriptor, field_path: &str, name: &str) -> Value {
        let field = resolve_field(input, field_path);
        let mut schema = match &field {
            Some(field) if !field.is_list() && !field.is_map() => self.constrained_field_schema(field),
            _ => json!({"type": "string"}),
        };
        if schema.get("type") == Some(&json!("string")) {
            // Every string path variable is an id, checked by
            // `required_id`; callback tokens are longer and of their own form.
            schema = if name == "token" { json!({"type": "string", "minLength": 1}) } else { id_schema() };
        }
        let mut parameter = json!({"name": name, "in": "path", "required": true, "schema": schema});
        let mut description =
            field.as_ref().and_then(|f| self.comments.get(&f.parent_file(), f.path())).unwrap_or_default();
        if field_path.replace('.', "_") != name {
            // A template sharing its path key with another one binds its own field.
            description = format!("Binds `{field_path}`. {description}").trim_end().to_string();
        }
        if !description.is_empty() {
            parameter["description"] = description.into();
        }
        parameter
    }

    /// `{"$ref": …}` to a message's component (built on first use), or the
    /// inline JSON form of a well-known type.
    fn message_ref(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = format!("{}{}", self.naming.schema_prefix, message.full_name());
        if !self.schemas.contains_key(&name) {
            // Placeholder first, so a message that contains itself stops here.
            self.schemas.insert(name.clone(), Value::Null);
            let schema = self.object_schema(message, &[]);
            self.schemas.insert(name.clone(), schema);
        }
        json!({"$ref": format!("{SCHEMAS}{name}")})
    }

    fn enum_ref(&mut self, descriptor: &EnumDescriptor) -> Value {
        if descriptor.full_name() == "google.protobuf.NullValue" {
            return json!({"type": "null"});
        }
        let name = descriptor.full_name().to_string();
        if !self.schemas.contains_key(&name) {
            let mut values = Vec::new();
            let mut lines = Vec::new();
            for value in descriptor.values() {
                if value.number() == 0 && value.name().ends_with("_UNSPECIFIED") {
                    continue;
                }
                let short = enum_value_json_name(descriptor, value.name());
                let text = self.comments.get(&descriptor.parent_file(), value.path());
                lines.push(match text {
                    Some(text) => format!("- `{short}`: {}", text.split_whitespace().collect::<Vec<_>>().join(" ")),
                    None => format!("- `{short}`"),
                });
                values.push(Value::String(short));
            }
            let mut description = self.comments.get(&descriptor.parent_file(), descriptor.path()).unwrap_or_default();
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str("Written in the short lower-case form; the protobuf name (e.g. `");
            description.push_str(descriptor.values().nth(1).map(|v| v.name().to_string()).unwrap_or_default().as_str());
            description.push_str("`) and the number are also accepted on input, as protobuf JSON reads them.\n\n");
            description.push_str(&lines.join("\n"));
            // What is read: the short names first (what is written), then
            // the protobuf names and numbers; UNSPECIFIED (0) means unset.
            let specified = || descriptor.values().filter(|v| !(v.number() == 0 && v.name().ends_with("_UNSPECIFIED")));
            values.extend(specified().map(|v| Value::String(v.name().to_string())));
            values.extend(specified().map(|v| Value::from(v.number())));
            let schema = json!({"type": ["string", "integer"], "enum": values, "description": description});
            self.schemas.insert(name.clone(), schema);
        }
        json!({"$ref": format!("{SCHEMAS}{name}")})
    }

    /// An object schema of `message`'s fields by JSON name, leaving out the
    /// fields named in `without` (bound by the path).
    fn object_schema(&mut self, message: &MessageDescriptor, without: &[&str]) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            if without.contains(&field.name()) {
                continue;
            }
            let mut schema = self.constrained_field_schema(&field);
            if !required_fields(message.full_name()).contains(&field.name()) {
                schema = nullable(schema);
            }
            if let Some(text) = self.comments.get(&field.parent_file(), field.path()) {
                schema["description"] = text.into();
            }
            properties.insert(self.naming.key(&field).into_owned(), schema);
        }
        let mut schema = json!({"type": "object"});
        if let Some(text) = self.comments.get(&message.parent_file(), message.path()) {
            schema["description"] = text.into();
        }
        schema["properties"] = Value::Object(properties);
        // Unknown keys are refused (400 naming the key), so say so.
        schema["additionalProperties"] = false.into();
        let required: Vec<Value> = required_fields(message.full_name())
            .iter()
            .filter(|name| !without.contains(name))
            .filter_map(|name| message.get_field_by_name(name))
            .map(|field| Value::String(self.naming.key(&field).into_owned()))
            .collect();
        if !required.is_empty() {
            schema["required"] = required.into();
        }
        if let Some(rule) = message_rule(message.full_name()) {
            constrain(&mut schema, rule);
        }
        schema
    }

    /// [`Self::field_schema`] with the rules the request checks enforce on
    /// this field ([`field_rule`]).
    fn constrained_field_schema(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = self.field_schema(field);
        if let Some(rule) = field_rule(field.parent_message().full_name(), field.name()) {
            constrain(&mut schema, rule);
        }
        schema
    }

    /// The schema of a field's value: maps as objects, repeated fields as
    /// arrays, else its kind.
    fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else { return json!({"type": "object"}) };
            let value = self.kind_schema(&entry.map_entry_value_field().kind());
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_list() {
            json!({"type": "array", "items": self.kind_schema(&field.kind())})
        } else {
            self.kind_schema(&field.kind())
        }
    }

    fn kind_schema(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
            }
            Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
            Kind::Enum(descriptor) => self.enum_ref(descriptor),
            Kind::Message(message) => self.message_ref(message),
        }
    }
}

/// Adds the keywords of `rule` to `schema`: merged key by key into an
/// inline schema (objects recursively, so `items` and `properties` gain
/// keywords), beside a `$ref` through `allOf`.
fn constrain(schema: &mut Value, rule: Value) {
    if schema.get("$ref").is_some() {
        *schema = json!({"allOf": [schema.take(), rule]});
        return;
    }
    let (Value::Object(target), Value::Object(extra)) = (schema, rule) else { return };
    for (key, value) in extra {
        match target.get_mut(&key) {
            Some(existing @ Value::Object(_)) if value.is_object() => constrain(existing, value),
            _ => {
                target.insert(key, value);
            }
        }
    }
}

/// `schema` or `null`: protobuf's JSON mapping reads `null` as the field's
/// default (unset), so the server accepts it for any field it does not
/// require, and the document says so.
fn nullable(mut schema: Value) -> Value {
    let Some(object) = schema.as_object_mut() else { return schema };
    if ["$ref", "allOf", "anyOf"].iter().any(|key| object.contains_key(*key)) {
        return json!({"anyOf": [schema, {"type": "null"}]});
    }
    // `{}` (google.protobuf.Value) already takes null.
    if let Some(Value::String(kind)) = object.get("type") {
        let both = json!([kind, "null"]);
        object.insert("type".into(), both);
    }
    schema
}

/// Whether a request field can come from the query string: its JSON form is
/// a scalar (or a list of scalars).
fn is_query_field(field: &FieldDescriptor) -> bool {
    if field.is_map() {
        return false;
    }
    match field.kind() {
        Kind::Message(message) => !field.is_list() && scalar_well_known(&message),
        _ => true,
    }
}

/// Well-known message types written as one JSON scalar.
fn scalar_well_known(message: &MessageDescriptor) -> bool {
    well_known(message).is_some_and(|schema| {
        matches!(schema.get("type").and_then(Value::as_str), Some("string" | "integer" | "number" | "boolean"))
    })
}

/// The JSON form of the well-known types; `None` for any other message.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    let name = message.full_name().strip_prefix("google.protobuf.")?;
    Some(match name {
        "Timestamp" => json!({"type": "string", "format": "date-time"}),
        "Duration" => json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"}),
        "FieldMask" => json!({"type": "string", "description": "Comma-separated field paths."}),
        "Struct" => json!({"type": "object"}),
        // Any JSON. Not bounded here: the gateway refuses an integer
        // literal beyond ±2^53 but reads `1e17` as a double, and JSON Schema
        // cannot tell the two spellings apart.
        "Value" => json!({"description": "Any JSON: arrays and objects nest at most 30 levels; an integer \
            beyond ±2^53 goes as a string."}),
        "ListValue" => json!({"type": "array"}),
        "Empty" => json!({"type": "object"}),
        "Any" => json!({"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}),
        "DoubleValue" => json!({"type": "number", "format": "double"}),
        "FloatValue" => json!({"type": "number", "format": "float"}),
        "Int64Value" => json!({"type": "integer", "format": "int64"}),
        "UInt64Value" => json!({"type": "integer", "minimum": 0}),
        "Int32Value" => json!({"type": "integer", "format": "int32"}),
        "UInt32Value" => json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
        "BoolValue" => json!({"type": "boolean"}),
        "StringValue" => json!({"type": "string"}),
        "BytesValue" => json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
        _ => json!({}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::descriptors::pool;

    fn table() -> RouteTable {
        RouteTable::from_pool(pool()).expect("the API's bindings do not conflict")
    }

    fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((path.as_str(), method.as_str(), operation));
            }
        }
        all
    }

    fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
        let found = &doc["paths"][path][method];
        assert!(found.is_object(), "no {method} {path} in {:?}", doc["paths"].as_object().unwrap().keys());
        found
    }

    /// `/v1/workflows/{workflow.id}` -> `/v1/workflows/{}`.
    fn anonymous(template: &str) -> String {
        let mut out = String::new();
        let mut inside = false;
        for c in template.chars() {
            match c {
                '{' => {
                    inside = true;
                    out.push_str("{}");
                }
                '}' => inside = false,
                _ if inside => {}
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_route_appears_once_with_a_unique_operation_id() {
        let table = table();
        let doc = document(&table);
        assert_eq!(doc["openapi"], "3.1.0");
        let all = operations(&doc);
        assert_eq!(all.len(), table.routes().len());
        let mut ids: Vec<&str> = all.iter().map(|(_, _, op)| op["operationId"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "operationIds are unique");
        for route in table.routes() {
            let method = route.http_method.as_str().to_ascii_lowercase();
            let found = all.iter().any(|(path, m, op)| {
                *m == method && anonymous(path) == anonymous(&route.template) && op["x-grpc-method"] == route.grpc_path
            });
            assert!(found, "{} {} ({}) is documented", route.http_method, route.template, route.grpc_path);
            let service = route.method.parent_service();
            assert!(all.iter().any(|(_, _, op)| op["tags"][0] == service.name()));
        }
        assert!(ids.contains(&"WorkflowService_GetWorkflow"));
        assert!(ids.contains(&"WorkflowService_GetWorkflow_2"));
        assert!(ids.contains(&"WorkflowService_GetWorkflow_3"));
        assert!(doc["paths"]["/v1/workflows:validate"]["post"].is_object(), "custom verbs stay literal");
    }

    #[test]
    fn every_path_variable_is_a_required_path_parameter() {
        let doc = document(&table());
        for (path, method, op) in operations(&doc) {
            let variables: Vec<&str> = path.split('{').skip(1).map(|rest| rest.split('}').next().unwrap()).collect();
            for variable in &variables {
                assert!(!variable.contains('.'), "{path}: legal parameter name");
                let parameter = op["parameters"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["in"] == "path" && p["name"] == *variable))
                    .unwrap_or_else(|| panic!("{method} {path} documents {{{variable}}}"));
                assert_eq!(parameter["required"], true);
            }
            let declared = op["parameters"].as_array().map_or(0, |ps| ps.iter().filter(|p| p["in"] == "path").count());
            assert_eq!(declared, variables.len(), "{method} {path}");
        }
        let get = operation(&doc, "/v1/workflows/{id}", "get");
        assert_eq!(get["parameters"][0]["schema"]["type"], "string");
        let version = operation(&doc, "/v1/workflows/{id}/versions/{version}", "get");
        assert_eq!(version["parameters"][1]["schema"]["type"], "integer");
        assert_eq!(version["parameters"][1]["schema"]["minimum"], 1, "versions start at 1");
        // UpdateWorkflow binds workflow.id; GetWorkflow's template has the same shape.
        let update = operation(&doc, "/v1/workflows/{id}", "patch");
        assert_eq!(update["operationId"], "WorkflowService_UpdateWorkflow");
        assert!(update["parameters"][0]["description"].as_str().unwrap().contains("workflow.id"));
    }

    #[test]
    fn query_parameters_are_the_remaining_scalar_fields() {
        let doc = document(&table());
        let list = operation(&doc, "/v1/workflows", "get");
        let names: Vec<&str> =
            list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["pageSize", "pageToken", "status", "tag", "triggerType", "limit", "offset", "sort", "order"]
        );
        let status_ref = list["parameters"][2]["schema"]["allOf"][0]["$ref"].as_str().unwrap();
        assert_eq!(list["parameters"][2]["schema"]["allOf"][1], json!({"type": "string"}), "no numbers in a query");
        assert_eq!(status_ref, "#/components/schemas/weft.v1.WorkflowStatus");
        let status = &doc["components"]["schemas"]["weft.v1.WorkflowStatus"];
        assert_eq!(status["enum"].as_array().unwrap()[..4], ["draft", "active", "paused", "archived"]);
        let accepted = status["enum"].as_array().unwrap();
        assert!(accepted.contains(&json!("WORKFLOW_STATUS_PAUSED")) && accepted.contains(&json!(3)), "{accepted:?}");
        assert!(!accepted.contains(&json!(0)), "unspecified is not a value");

        let create = operation(&doc, "/v1/workflows", "post");
        let names: Vec<&str> =
            create["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["requestId"], "the body field and path fields are not query parameters");
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["allOf"][0]["$ref"],
            "#/components/schemas/weft.v1.Workflow"
        );

        let status = operation(&doc, "/v1/workflows/{id}/status", "patch");
        let body = &status["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"]["status"].is_object());
        assert!(body["properties"].get("id").is_none(), "path-bound fields leave the `*` body");
        assert_eq!(status["parameters"].as_array().unwrap().len(), 1, "a `*` body takes no query parameters");
    }

    #[test]
    fn success_statuses_and_response_bodies_follow_the_annotations() {
        let doc = document(&table());
        let create = operation(&doc, "/v1/workflows", "post");
        assert_eq!(
            create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/weft.v1.Workflow"
        );
        let api_create = operation(&doc, "/api/workflows", "post");
        assert_eq!(
            api_create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/api.weft.v1.CreateWorkflowResponse",
            "/api answers are described with their snake_case keys"
        );
        let api_workflow = &doc["components"]["schemas"]["api.weft.v1.Workflow"]["properties"];
        assert!(api_workflow["created_at"].is_object() && api_workflow.get("createdAt").is_none());
        let api_run = &doc["components"]["schemas"]["api.weft.v1.Run"]["properties"];
        assert!(api_run["step_runs"].is_object() && api_run["duration_seconds"].is_object());
        let api_start = operation(&doc, "/api/workflows/{workflow_id}/run", "post");
        let schema = &api_start["responses"]["202"]["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], json!(["run_id"]));
        assert_eq!(schema["properties"].as_object().unwrap().len(), 1, "003's 202 is `{{run_id}}` alone");
        let machine_list = operation(&doc, "/workflows", "get");
        let schema = &machine_list["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], json!(["data", "meta"]));
        let agent = operation(&doc, "/v1/agents/{workflow_id}/workflow", "post");
        let schema = &agent["responses"]["202"]["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], json!(["output", "run_id"]));
        let execute = operation(&doc, "/api/workflows/{workflow_id}/execute", "post");
        assert!(execute["responses"]["500"].is_object(), "a failed synchronous execution is documented");
        let list = operation(&doc, "/v1/workflows", "get");
        let schema = &list["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "array");
        assert_eq!(schema["items"]["$ref"], "#/components/schemas/weft.v1.Workflow");
        let start = operation(&doc, "/v1/workflows/{workflow_id}/runs", "post");
        assert!(start["responses"]["202"].is_object());
        let (_, _, stream) = operations(&doc)
            .into_iter()
            .find(|(_, _, op)| op["operationId"] == "RunService_StreamRunEvents")
            .expect("the stream route");
        let content = &stream["responses"]["200"]["content"];
        assert!(content["text/event-stream"].is_object() && content["application/x-ndjson"].is_object());
        assert_eq!(content["text/event-stream"]["x-item-schema"]["$ref"], "#/components/schemas/weft.v1.RunEvent");
    }

    #[test]
    fn every_operation_documents_the_error_schema() {
        let table = table();
        let doc = document(&table);
        for (path, method, op) in operations(&doc) {
            let route = table
                .routes()
                .iter()
                .find(|r| {
                    anonymous(&r.template) == anonymous(path) && r.http_method.as_str().eq_ignore_ascii_case(method)
                })
                .unwrap_or_else(|| panic!("no route for {method} {path}"));
            let expected = match route.family.profile().error_form(&route.http_method, &route.template) {
                ErrorForm::Plain => "#/components/schemas/ErrorPlain",
                ErrorForm::Structured => "#/components/schemas/ErrorStructured",
                ErrorForm::Status => "#/components/schemas/Error",
            };
            let documented = &op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(documented, expected, "{method} {path}");
            // 004's family: its /api routes and the inbound webhook call.
            let family_004 = path.starts_with("/api/") || path.starts_with("/hooks/");
            assert_eq!(family_004, expected != "#/components/schemas/Error", "{method} {path}");
        }
        let error = &doc["components"]["schemas"]["Error"];
        for key in ["code", "message", "details", "error", "error_code"] {
            assert!(error["properties"][key].is_object(), "Error.{key}");
        }
    }

    fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(target)) = object.get("$ref") {
                    refs.push(target);
                }
                object.values().for_each(|v| collect_refs(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_and_schemas_are_complete() {
        let doc = document(&table());
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for target in refs {
            let name = target.strip_prefix(SCHEMAS).unwrap_or_else(|| panic!("{target} points into components"));
            assert!(schemas.contains_key(name), "{target} resolves");
        }
        for (name, schema) in schemas {
            assert!(schema.is_object(), "{name} was built");
            assert!(!name.starts_with("google.protobuf."), "{name}: well-known types are inline");
        }
        // Recursion goes through $ref.
        let step = &schemas["weft.v1.Step"];
        assert_eq!(step["properties"]["steps"]["items"]["$ref"], "#/components/schemas/weft.v1.Step");
        assert_eq!(step["properties"]["step"]["anyOf"][0]["$ref"], "#/components/schemas/weft.v1.Step");
        // JSON names, well-known types, 64-bit integers, maps.
        let workflow = &schemas["weft.v1.Workflow"];
        assert_eq!(workflow["properties"]["createdAt"]["format"], "date-time");
        assert_eq!(workflow["properties"]["inputSchema"]["type"], json!(["object", "null"]));
        assert_eq!(workflow["properties"]["onFailure"]["anyOf"][0]["$ref"], "#/components/schemas/weft.v1.FailureMode");
        assert_eq!(
            workflow["properties"]["states"]["additionalProperties"]["$ref"],
            "#/components/schemas/weft.v1.MachineState"
        );
        assert!(workflow["properties"].get("create_time").is_none());
        assert_eq!(schemas["weft.v1.Money"]["properties"]["amount"]["type"], json!(["integer", "null"]));
        assert_eq!(step["properties"]["inputMap"]["additionalProperties"]["type"], "string");
        assert!(workflow["description"].as_str().is_some_and(|d| d.contains("versioned DAG")), "comments are kept");
    }

    fn body<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
        &operation(doc, path, method)["requestBody"]["content"]["application/json"]["schema"]
    }

    #[test]
    fn required_fields_and_bounds_follow_the_request_checks() {
        let doc = document(&table());
        let schemas = &doc["components"]["schemas"];
        // A `*` body whose message requires a field is itself required.
        let status = operation(&doc, "/v1/workflows/{id}/status", "patch");
        assert_eq!(status["requestBody"]["required"], true);
        assert_eq!(body(&doc, "/v1/workflows/{id}/status", "patch")["required"], json!(["status"]));
        let rollback = body(&doc, "/v1/workflows/{id}/rollback", "post");
        assert_eq!(rollback["required"], json!(["version"]));
        assert_eq!(rollback["properties"]["version"]["minimum"], 1);
        // Not-required fields take null (unset in protobuf JSON); required ones do not.
        assert_eq!(rollback["properties"]["changeSummary"]["type"], json!(["string", "null"]));
        assert_eq!(rollback["properties"]["version"]["type"], "integer");
        let diff = operation(&doc, "/v1/workflows/{id}/diff", "get");
        let v1 = diff["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "v1").unwrap();
        assert_eq!((&v1["required"], &v1["schema"]["minimum"]), (&json!(true), &json!(1)));
        // Path ids: what `required_id` accepts, in the form ids are issued.
        let get = operation(&doc, "/v1/workflows/runs/{run_id}", "get");
        let id = &get["parameters"][0]["schema"];
        assert_eq!(
            (&id["minLength"], &id["maxLength"], &id["pattern"]),
            (&json!(1), &json!(128), &json!(rules::ID_PATTERN))
        );
        // A create needs a name and steps; an update (same message) does not.
        let create = body(&doc, "/v1/workflows", "post");
        assert_eq!(create["allOf"][1]["required"], json!(["name", "steps"]));
        assert!(body(&doc, "/v1/workflows/{id}", "patch").get("allOf").is_none());
        assert!(schemas["weft.v1.Workflow"].get("required").is_none());
        // Workers.
        let fail = &schemas["weft.v1.FailTaskRequest"];
        assert!(fail.is_null(), "path-bound requests are inline");
        let fail = body(&doc, "/v1/tasks/{task_id}:fail", "post");
        assert_eq!(fail["required"], json!(["leaseToken", "error"]));
        assert_eq!(fail["properties"]["leaseToken"]["minimum"], 1);
        assert_eq!(fail["properties"]["error"]["maxLength"], 8192);
        assert_eq!(fail["properties"]["cost"]["anyOf"][0]["allOf"][1]["properties"]["amount"]["minimum"], 0);
        let register = body(&doc, "/v1/workers:register", "post");
        let register = &schemas[register["$ref"].as_str().unwrap().strip_prefix(SCHEMAS).unwrap()];
        assert_eq!(register["properties"]["agents"]["minItems"], 1);
        assert_eq!(register["properties"]["agents"]["items"]["not"]["pattern"], "^weft:");
    }

    #[test]
    fn fields_that_exclude_one_another_are_stated() {
        let doc = document(&table());
        let start = body(&doc, "/v1/workflows/{workflow_id}/runs", "post");
        let pairs = start["not"]["anyOf"].as_array().unwrap();
        assert!(pairs.contains(&json!({"required": ["input", "variables"]})), "{pairs:?}");
        let resume = body(&doc, "/v1/workflows/runs/{run_id}/resume", "post");
        assert_eq!(resume["not"]["anyOf"].as_array().unwrap().len(), 3);
        let validate = body(&doc, "/v1/workflows:validate", "post");
        let validate = &doc["components"]["schemas"][validate["$ref"].as_str().unwrap().strip_prefix(SCHEMAS).unwrap()];
        assert_eq!(validate["anyOf"][0]["required"], json!(["definition"]));
    }

    #[test]
    fn error_statuses_are_listed_where_they_can_occur() {
        let doc = document(&table());
        let get = &operation(&doc, "/v1/workflows/{id}", "get")["responses"];
        assert!(get["400"].is_object() && get["404"].is_object());
        assert!(
            get["409"].is_null() && get["413"].is_null() && get["415"].is_null(),
            "a read changes nothing and takes no body"
        );
        assert!(get["401"].is_object() && get["403"].is_object(), "a read needs a key of a scope that reads");
        let callback = &operation(&doc, "/v1/callbacks/{token}", "post")["responses"];
        assert!(callback["401"].is_null(), "a signed callback needs no key");
        assert!(get["421"].is_object(), "any call can name a Host a loopback server refuses");
        let start = &operation(&doc, "/v1/workflows/{workflow_id}/runs", "post")["responses"];
        for code in ["400", "401", "403", "404", "409", "413", "415", "421", "422", "429", "default"] {
            assert_eq!(
                start[code]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{code}"
            );
        }
        let create = &operation(&doc, "/v1/workflows", "post")["responses"];
        assert!(create["422"].is_null(), "only run inputs are checked against a workflow's schema");
        assert!(callback["413"].is_object() && callback["415"].is_null(), "a signed callback takes any type");
        assert!(create["429"].is_null() && get["429"].is_null(), "only starting a run is rate limited");
    }

    #[test]
    fn constraints_merge_into_inline_schemas_and_wrap_refs() {
        let mut inline = json!({"type": "array", "items": {"type": "string"}});
        constrain(&mut inline, json!({"minItems": 1, "items": {"maxLength": 3}}));
        assert_eq!(inline, json!({"type": "array", "minItems": 1, "items": {"type": "string", "maxLength": 3}}));
        let mut reference = json!({"$ref": "#/components/schemas/weft.v1.Money"});
        constrain(&mut reference, json!({"properties": {"amount": {"minimum": 0}}}));
        assert_eq!(reference["allOf"][0]["$ref"], "#/components/schemas/weft.v1.Money");
        assert_eq!(nullable(json!({})), json!({}), "google.protobuf.Value takes null already");
        assert_eq!(nullable(json!({"type": "string"})), json!({"type": ["string", "null"]}));
    }
}
