//! Checks of the fields specific to each step type: what is required, which
//! values are allowed, and parsing of the expressions and templates inside.

use serde_json::Value;

use super::checks::StepCheck;
use super::compiled_kind::TransformRole;
use super::duration::MAX_DURATION;
use super::kind::StepKind;
use super::path::shorten;
use super::problem::ProblemCode;
use crate::expr::{parse_condition, parse_header_value, parse_template, template_references_secrets};
use crate::model::definition::Branch;

/// Most items of a map in flight at once.
pub const MAX_CONCURRENCY: u32 = 1000;
/// Most iterations of a loop.
pub const MAX_LOOP_ITERATIONS: u32 = 100_000;
/// Longest webhook / http_request URL, in bytes.
pub const MAX_URL_LEN: usize = 8192;
/// Methods an HTTP step may use (matched without regard to case).
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Interpreters of script steps.
pub const SCRIPT_LANGUAGES: [&str; 2] = ["python", "shell"];

impl StepCheck<'_, '_> {
    pub fn type_fields(&mut self, kind: StepKind) {
        match kind {
            StepKind::Agent | StepKind::Planner => self.agent(kind),
            StepKind::Parallel => self.require(kind, "steps", self.step.steps.is_empty(), "sub-steps"),
            StepKind::Condition => self.condition(kind),
            StepKind::Delay => self.delay(kind),
            StepKind::Approval => self.approval(kind),
            StepKind::Webhook | StepKind::HttpRequest => self.http(kind),
            StepKind::Transform => self.transform(kind),
            StepKind::Map => self.map(kind),
            StepKind::Loop => self.loop_(kind),
            StepKind::Wait => self.wait(kind),
            StepKind::Script => self.script(kind),
        }
    }

    /// Reports `field` as missing when `missing`; `what` says what it holds.
    fn require(&mut self, kind: StepKind, field: &str, missing: bool, what: &str) {
        if missing {
            let name = kind.as_str();
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            let message = format!("{} is {article} {name} step and needs '{field}' ({what})", self.label());
            self.report(field, ProblemCode::MissingField, message);
        }
    }

    fn agent(&mut self, kind: StepKind) {
        self.require(kind, "agent", self.step.agent.is_empty(), "the agent that runs the task");
        self.require(kind, "task", self.step.task.is_empty(), "the task text for the agent");
        if self.step.task.is_empty() || self.secret_in_template("task", &self.step.task) {
            return;
        }
        match parse_template(&self.step.task) {
            Ok(task) => self.out.task = Some(task),
            Err(e) => {
                let message = format!("{} has an invalid task template: {e}", self.label());
                self.report("task", ProblemCode::InvalidTemplate, message);
            }
        }
    }

    fn condition(&mut self, kind: StepKind) {
        let step = self.step;
        self.require(kind, "expression", step.expression.is_empty(), "the condition to evaluate");
        if !step.expression.is_empty() && !self.secret_elsewhere("expression", &step.expression) {
            match parse_condition(&step.expression) {
                Ok(condition) => self.out.condition = Some(condition),
                Err(e) => {
                    let message = format!("{} has an invalid condition expression: {e}", self.label());
                    self.report("expression", ProblemCode::InvalidExpression, message);
                }
            }
        }
        let no_branch = step.on_true.is_none() && step.on_false.is_none();
        self.require(kind, "onTrue", no_branch, "or onFalse: the step to continue with");
        self.out.on_true = self.branch("onTrue", step.on_true.as_ref());
        self.out.on_false = self.branch("onFalse", step.on_false.as_ref());
    }

    fn branch(&mut self, field: &str, branch: Option<&Branch>) -> Option<usize> {
        let branch = branch?;
        let what = format!("an {field} branch to");
        self.target(&format!("{field}.next"), &branch.next, ProblemCode::UnknownBranchTarget, &what)
    }

    fn delay(&mut self, kind: StepKind) {
        let seconds = self.step.duration;
        self.require(kind, "duration", seconds == 0, "seconds to wait, more than zero");
        if u64::from(seconds) > MAX_DURATION.as_secs() {
            let message = format!("{} waits {seconds} seconds; the limit is 366 days", self.label());
            self.report("duration", ProblemCode::LimitExceeded, message);
        }
    }

    fn approval(&mut self, kind: StepKind) {
        self.require(kind, "action", self.step.action.is_empty(), "the action awaiting approval");
        if !["", "approve", "deny"].contains(&self.step.default_action.as_str()) {
            let message = format!(
                "{} has defaultAction '{}'; expected approve or deny",
                self.label(),
                shorten(&self.step.default_action)
            );
            self.report("defaultAction", ProblemCode::InvalidField, message);
        }
    }

    fn http(&mut self, kind: StepKind) {
        let step = self.step;
        self.require(kind, "url", step.url.is_empty(), "an absolute http or https URL");
        if !step.url.is_empty() && !self.secret_in_template("url", &step.url) {
            self.url(&step.url);
        }
        if !step.method.is_empty() && !HTTP_METHODS.iter().any(|m| m.eq_ignore_ascii_case(&step.method)) {
            let message = format!(
                "{} has HTTP method '{}'; expected one of {}",
                self.label(),
                shorten(&step.method),
                HTTP_METHODS.join(", ")
            );
            self.report("method", ProblemCode::InvalidField, message);
        }
        for (name, value) in &step.headers {
            let bad_name = name.is_empty() || !name.bytes().all(is_token_byte);
            if bad_name || value.contains(['\r', '\n']) {
                let what = if bad_name { "an invalid header name" } else { "a line break in the value of header" };
                let message = format!("{} has {what} '{}'", self.label(), shorten(name));
                self.report(format_args!("headers.{name}"), ProblemCode::InvalidField, message);
            } else if let Err(e) = parse_header_value(value) {
                // Kept as written: the server resolves the references as
                // the request leaves, so no secret reaches the run.
                let message = format!("{} has an invalid value in header '{}': {e}", self.label(), shorten(name));
                self.report(format_args!("headers.{name}"), ProblemCode::InvalidTemplate, message);
            }
        }
        if let Some(body) = &step.body {
            self.body_templates(body);
        }
    }

    /// Checks the URL. One with `{{ }}` placeholders (`{{ input.url }}`,
    /// `https://api.example.com/items/{{ input.id }}`) is parsed as a
    /// template, rendered when the attempt is dispatched; when it starts
    /// with literal text, that text is checked with a stand-in for each
    /// placeholder, so a typo in a fixed scheme or host is still caught
    /// when the definition is written. The rendered URL meets the same
    /// rules (and the SSRF rules) when the request is made.
    fn url(&mut self, url: &str) {
        let templated = url.contains("{{") || url.contains("}}");
        if templated {
            match parse_template(url) {
                Ok(template) => self.out.url = Some(template),
                Err(e) => {
                    let message = format!("{} has an invalid template in its URL: {e}", self.label());
                    self.report("url", ProblemCode::InvalidTemplate, message);
                    return;
                }
            }
        }
        if templated && url.starts_with("{{") {
            // The whole start comes from the run: nothing fixed to check.
            return;
        }
        let checked = if templated { with_stand_ins(url) } else { url.to_owned() };
        if let Err(why) = check_url(&checked) {
            let message = format!("{} has URL '{}', which {why}", self.label(), shorten(url));
            self.report("url", ProblemCode::InvalidField, message);
        }
    }

    /// Parses every string of the body that holds a `{{ }}` placeholder,
    /// keyed by its JSON pointer, in document order. Iterative: bodies may
    /// nest deeply.
    fn body_templates(&mut self, body: &Value) {
        let mut stack: Vec<(String, &Value)> = vec![(String::new(), body)];
        while let Some((pointer, value)) = stack.pop() {
            match value {
                Value::String(s) if template_references_secrets(s) => {
                    let message = format!(
                        "{} refers to `secrets` in body at '{pointer}'; secrets may only be used in webhook and \
                         http_request header values, as {{{{ secrets.NAME }}}}",
                        self.label()
                    );
                    self.report("body", ProblemCode::SecretOutsideHeader, message);
                }
                Value::String(s) if s.contains("{{") || s.contains("}}") => match parse_template(s) {
                    Ok(template) => self.out.body.push((pointer, template)),
                    Err(e) => {
                        let message = format!("{} has an invalid template in body at '{pointer}': {e}", self.label());
                        self.report("body", ProblemCode::InvalidTemplate, message);
                    }
                },
                Value::Array(items) => {
                    stack.extend(items.iter().enumerate().rev().map(|(i, v)| (format!("{pointer}/{i}"), v)));
                }
                Value::Object(map) => {
                    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
                    stack.extend(map.iter().rev().map(|(k, v)| (format!("{pointer}/{}", escape(k)), v)));
                }
                _ => {}
            }
        }
    }

    /// A transform with no `output` (or `output: {}`) is a join point that
    /// yields `{}`: JSON cannot tell an absent map from an empty one once
    /// stored, so both mean the same.
    fn transform(&mut self, _kind: StepKind) {
        let step = self.step;
        self.out.role = Some(self.roles.get(step.id.as_str()).cloned().unwrap_or(TransformRole::Reshape));
        for (key, src) in &step.output {
            if key.is_empty() {
                let message = format!("{} has an output entry with an empty name", self.label());
                self.report("output", ProblemCode::InvalidField, message);
            }
            if let Some(path) = self.path(format_args!("output.{key}"), src) {
                self.out.output.push((key.clone(), path));
            }
        }
    }

    fn map(&mut self, kind: StepKind) {
        self.over(kind);
        self.require(kind, "step", self.step.step.is_none(), "the sub-step to run per item");
        if self.step.concurrency > MAX_CONCURRENCY {
            let message =
                format!("{} has concurrency {}; the limit is {MAX_CONCURRENCY}", self.label(), self.step.concurrency);
            self.report("concurrency", ProblemCode::LimitExceeded, message);
        }
        self.binding();
    }

    fn loop_(&mut self, kind: StepKind) {
        let step = self.step;
        let drivers = [("over", &step.over), ("while", &step.while_condition), ("until", &step.until_condition)];
        let given: Vec<&str> = drivers.iter().filter(|(_, v)| !v.is_empty()).map(|(name, _)| *name).collect();
        match given.as_slice() {
            [] => self.require(kind, "over", true, "the array to iterate, or a `while` or `until` condition"),
            [_] => {}
            [_, second, ..] => {
                let message = format!("{} gives several of over, while and until; give exactly one", self.label());
                self.report(second, ProblemCode::InvalidField, message);
            }
        }
        if !step.over.is_empty() {
            self.out.over = self.path("over", &step.over);
        }
        for (field, source) in [("while", &step.while_condition), ("until", &step.until_condition)] {
            if source.is_empty() || self.secret_elsewhere(field, source) {
                continue;
            }
            match parse_condition(source) {
                Ok(condition) => self.out.condition = Some(condition),
                Err(e) => {
                    let message = format!("{} has an invalid `{field}` condition: {e}", self.label());
                    self.report(field, ProblemCode::InvalidExpression, message);
                }
            }
        }
        let bodies = step.steps.len() + usize::from(step.step.is_some());
        self.require(kind, "step", bodies == 0, "the body to run per iteration");
        if bodies > 1 {
            let message = format!(
                "{} has {bodies} body steps; a loop runs one sub-step per iteration (give `step`, or one `steps` entry)",
                self.label()
            );
            self.report("steps", ProblemCode::InvalidField, message);
        }
        if self.step.max_iterations > MAX_LOOP_ITERATIONS {
            let message = format!(
                "{} allows {} iterations; the limit is {MAX_LOOP_ITERATIONS}",
                self.label(),
                self.step.max_iterations
            );
            self.report("maxIterations", ProblemCode::LimitExceeded, message);
        }
        self.binding();
    }

    fn over(&mut self, kind: StepKind) {
        let over = &self.step.over;
        self.require(kind, "over", over.is_empty(), "the JSONPath of the array to iterate");
        if !over.is_empty() {
            self.out.over = self.path("over", over);
        }
    }

    /// The `as` name becomes a key of the run state next to step ids.
    fn binding(&mut self) {
        let name = if self.step.as_name.is_empty() { "item" } else { self.step.as_name.as_str() };
        let well_formed = name.len() <= super::checks::MAX_ID_LEN
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let why = if !well_formed {
            "is not a valid name: use letters, digits, '_' or '-', starting with a letter or '_'"
        } else if super::checks::RESERVED_IDS.contains(&name) {
            "is reserved: it is a key of the run state"
        } else if self.index.find(name).is_some() {
            "is also a step id, whose output it would hide; set 'as' to another name"
        } else {
            return;
        };
        let message = format!("{} binds each item as '{}', which {why}", self.label(), shorten(name));
        self.report("as", ProblemCode::InvalidField, message);
    }

    /// A wait ends on exactly one of: a named `event`, a `duration`, or a
    /// condition (`expression`, `config.condition` in the config form).
    fn wait(&mut self, kind: StepKind) {
        let step = self.step;
        let forms = [
            ("event", !step.event.is_empty()),
            ("duration", step.duration > 0),
            ("expression", !step.expression.is_empty()),
        ];
        let given: Vec<&str> = forms.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
        match given.as_slice() {
            [] => self.require(kind, "event", true, "the event to wait for, or a duration, or a condition"),
            [_] => {}
            [_, second, ..] => {
                let message =
                    format!("{} gives several of event, duration and condition; give exactly one", self.label());
                self.report(second, ProblemCode::InvalidField, message);
            }
        }
        if u64::from(step.duration) > MAX_DURATION.as_secs() {
            let message = format!("{} waits {} seconds; the limit is 366 days", self.label(), step.duration);
            self.report("duration", ProblemCode::LimitExceeded, message);
        }
        if !step.expression.is_empty() && !self.secret_elsewhere("expression", &step.expression) {
            if self.index.in_iteration(self.at) {
                let message = format!(
                    "{} waits for a condition inside a map or loop; only top-level and parallel steps may",
                    self.label()
                );
                self.report("expression", ProblemCode::InvalidField, message);
            }
            match parse_condition(&step.expression) {
                Ok(condition) => self.out.condition = Some(condition),
                Err(e) => {
                    let message = format!("{} has an invalid condition expression: {e}", self.label());
                    self.report("expression", ProblemCode::InvalidExpression, message);
                }
            }
        }
        if step.on_timeout.is_some() && step.timeout.is_empty() {
            let message = format!("{} has onTimeout but no timeout after which to take it", self.label());
            self.report("timeout", ProblemCode::MissingField, message);
        }
        self.out.on_timeout = self.branch("onTimeout", step.on_timeout.as_ref());
    }

    fn script(&mut self, kind: StepKind) {
        let step = self.step;
        self.require(kind, "language", step.language.is_empty(), "python or shell");
        if !step.language.is_empty() && !SCRIPT_LANGUAGES.contains(&step.language.as_str()) {
            let message =
                format!("{} has language '{}'; expected python or shell", self.label(), shorten(&step.language));
            self.report("language", ProblemCode::InvalidField, message);
        }
        self.require(kind, "script", step.script.is_empty(), "the source to run");
    }
}

/// `src` (a template that parsed) with `x` in place of each placeholder.
fn with_stand_ins(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        out.push('x');
        rest = rest[open..].find("}}").map_or("", |close| &rest[open + close + 2..]);
    }
    out.push_str(rest);
    out
}

/// A rough check of an absolute http(s) URL: scheme, a host, a numeric port,
/// no whitespace. The SSRF rules apply when the request is made.
fn check_url(url: &str) -> Result<(), &'static str> {
    if url.len() > MAX_URL_LEN {
        return Err("is longer than 8192 bytes");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    let strip =
        |scheme: &str| url.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|_| &url[scheme.len()..]);
    let rest = strip("https://").or_else(|| strip("http://")).ok_or("is not an absolute http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("has an unclosed '[' in its host")?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err("has a port that is not a number from 0 to 65535");
    }
    Ok(())
}

/// RFC 9110 token characters, the ones a header name may use.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_roughly() {
        for good in [
            "https://hooks.yourapp.com/lead-created",
            "http://api.example.com:8080/data?x=1#f",
            "HTTPS://EXAMPLE.COM",
            "https://user:pw@example.com/",
            "http://[::1]:80/",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "ftp://example.com",
            "example.com/path",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com:http/",
            "https://[::1/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
