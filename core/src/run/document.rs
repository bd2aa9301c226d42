//! The run state document: `{"input": …, "<stepId>": {"output": …},
//! "state": {…}}`, what every path, condition and template is evaluated
//! against. A map item sees one more key, its `as` binding, put in place
//! only while that item's expressions are evaluated.

use serde_json::{Map, Value};

use crate::expr::Path;

/// The document of a run that just started.
pub(super) fn initial(input: Value, shared_state: Value) -> Value {
    let state = if shared_state.is_null() { Value::Object(Map::new()) } else { shared_state };
    let mut doc = Map::new();
    doc.insert("input".to_owned(), input);
    doc.insert("state".to_owned(), state);
    Value::Object(doc)
}

/// What a path selects, as one value: nothing gives null, one value gives
/// itself, several (a wildcard or filter) give an array of them.
pub(super) fn select(path: &Path, doc: &Value) -> Value {
    selected(path, doc).unwrap_or(Value::Null)
}

/// What a path selects, as in [`select`], or `None` when it selects nothing.
fn selected(path: &Path, doc: &Value) -> Option<Value> {
    if path.is_singular() {
        return path.first(doc).cloned();
    }
    match path.query(doc).as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

/// An object of named paths resolved against the document (a transform's
/// `output`, or a step's `inputMap`).
pub(super) fn resolve(named: &[(String, Path)], doc: &Value) -> Value {
    Value::Object(named.iter().map(|(key, path)| (key.clone(), select(path, doc))).collect())
}

/// Like [`resolve`], for `inputMap`: a query that selects nothing is an
/// error (the index of its entry) unless `absent_ok(index)` says the value
/// is missing by design, when it is null. A query that selects an explicit
/// null selected something.
pub(super) fn resolve_strict(
    named: &[(String, Path)],
    doc: &Value,
    absent_ok: impl Fn(usize) -> bool,
) -> Result<Value, usize> {
    let mut out = Map::with_capacity(named.len());
    for (at, (key, path)) in named.iter().enumerate() {
        let value = match selected(path, doc) {
            Some(value) => value,
            None if absent_ok(at) => Value::Null,
            None => return Err(at),
        };
        out.insert(key.clone(), value);
    }
    Ok(Value::Object(out))
}

/// The first name of a query written `$.name…` or `$['name']…`: the step
/// (or `input`, `state`, a map binding) it reads from.
pub(super) fn root_name(query: &str) -> Option<&str> {
    let rest = query.trim().strip_prefix('$')?;
    if let Some(dotted) = rest.strip_prefix('.') {
        let end = dotted.find(['.', '[']).unwrap_or(dotted.len());
        return Some(&dotted[..end]).filter(|n| !n.is_empty());
    }
    let quoted = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\""))?;
    quoted.find(['\'', '"']).map(|end| &quoted[..end])
}

/// Records a completed step's output as `$.<id>.output`.
pub(super) fn set_output(doc: &mut Value, id: &str, output: Value) {
    if let Some(doc) = doc.as_object_mut() {
        let mut entry = Map::new();
        entry.insert("output".to_owned(), output);
        doc.insert(id.to_owned(), Value::Object(entry));
    }
}

/// Drops a step's output (ResumeRun `from_step` runs it again).
pub(super) fn remove_output(doc: &mut Value, id: &str) {
    if let Some(doc) = doc.as_object_mut() {
        doc.remove(id);
    }
}

/// Applies a completed step's `stateWrites`: each listed key the output
/// object has is copied into `$.state`. Keys the output lacks are left as
/// they were.
pub(super) fn write_state(doc: &mut Value, keys: &[String], output: &Value) {
    let Some(output) = output.as_object() else { return };
    let Some(state) = doc.get_mut("state").and_then(Value::as_object_mut) else { return };
    for key in keys {
        if let Some(value) = output.get(key) {
            state.insert(key.clone(), value.clone());
        }
    }
}

/// Runs `f` with `name` bound to `item` in the document, then restores the
/// document exactly (the compiler refuses bindings that shadow step ids, so
/// nothing is normally there) and gives `item` back.
pub(super) fn with_binding<R>(doc: &mut Value, name: &str, item: Value, f: impl FnOnce(&Value) -> R) -> (R, Value) {
    let Some(map) = doc.as_object_mut() else {
        return (f(doc), item);
    };
    let previous = map.insert(name.to_owned(), item);
    let result = f(doc);
    let map = doc.as_object_mut().expect("the document was an object a moment ago");
    let item = match previous {
        Some(previous) => map.insert(name.to_owned(), previous),
        None => map.shift_remove(name),
    };
    (result, item.unwrap_or(Value::Null))
}

/// A short description of a value's type, for error messages.
pub(super) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
