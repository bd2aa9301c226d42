//! http_request steps: the step's method (default GET), URL, headers and
//! `body` (its `{{ }}` placeholders rendered when the attempt was
//! dispatched; a string is sent as text, anything else as JSON). The
//! output is `{statusCode, headers, body}`, the body parsed when it is
//! JSON. An answer of 400 or more fails the attempt (retryable for 408,
//! 429 and 5xx). The step's `timeout` bounds the request (else the
//! client's), and the client's response size cap applies.

use serde_json::{Map, Value, json};

use super::webhook::send;
use super::{Finish, Job, json_or_text, whole_numbers};
use crate::outbound::OutboundRequest;

pub(super) async fn run(job: &Job) -> Finish {
    let spec = &job.spec;
    let method = if spec.method.is_empty() { "GET".to_owned() } else { spec.method.clone() };
    let mut headers = match super::headers::resolve(job, |_| true).await {
        Ok(headers) => headers,
        Err(finish) => return finish,
    };
    let has_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let body = match &spec.body {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            if !has_type {
                headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
            }
            Some(text.clone().into_bytes())
        }
        Some(value) => {
            if !has_type {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(serde_json::to_vec(&whole_numbers(value.clone())).unwrap_or_default())
        }
    };
    let timeout = spec.timeout_ms.map(std::time::Duration::from_millis);
    let request = OutboundRequest { method, url: spec.url.clone(), headers, body, timeout };
    let response = match send(job, request).await {
        Ok(response) => response,
        Err(finish) => return finish,
    };
    let status = response.status;
    if status >= 400 {
        let retryable = response.is_transient_refusal();
        let error = format!("the server answered HTTP {status}{}", response.snippet());
        return Finish::Failed { error, retryable };
    }
    let mut headers = Map::new();
    for (name, value) in response.headers {
        match headers.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    match json_or_text(&response.body, "output.body") {
        Ok(body) => Finish::Done(json!({ "statusCode": status, "headers": headers, "body": body })),
        Err(fault) => Finish::Refused(fault),
    }
}
