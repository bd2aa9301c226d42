//! Comparing an answer with a documented example by shape: the same keys,
//! the same nesting, the same JSON types, whatever the values.
//!
//! An example object lists the keys the answer must have, and only those,
//! unless it holds `"...": true`, which allows others (a resource whose
//! document shows only some of its fields). An example array's first item is
//! the shape of every item of the answer's array, which must not be empty.
//! `null` in an example matches anything (a value that is null or not,
//! depending on the run). A whole number must be answered as a whole number.

use serde_json::Value;

/// The key that lets an example object's answer carry more keys.
pub const MORE: &str = "...";

/// Panics, naming the JSON path, where `answer` does not have `example`'s
/// shape.
pub fn assert_shape(answer: &Value, example: &Value, what: &str) {
    if let Err(problem) = check(answer, example, "$") {
        panic!("{what}: {problem}\nanswer: {answer}");
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check(answer: &Value, example: &Value, at: &str) -> Result<(), String> {
    match (example, answer) {
        (Value::Null, _) => Ok(()),
        (Value::Object(want), Value::Object(have)) => {
            for (key, shape) in want.iter().filter(|(key, _)| key.as_str() != MORE) {
                let value = have.get(key).ok_or_else(|| format!("{at}.{key} is missing"))?;
                check(value, shape, &format!("{at}.{key}"))?;
            }
            if !want.contains_key(MORE)
                && let Some(extra) = have.keys().find(|key| !want.contains_key(*key))
            {
                return Err(format!("{at}.{extra} is not in the documented shape"));
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(have)) => {
            let Some(item) = want.first() else { return Ok(()) };
            if have.is_empty() {
                return Err(format!("{at} is empty; the example has items"));
            }
            have.iter().enumerate().try_for_each(|(i, value)| check(value, item, &format!("{at}[{i}]")))
        }
        (Value::Number(want), Value::Number(have)) => {
            let whole = |n: &serde_json::Number| n.is_i64() || n.is_u64();
            if whole(want) && !whole(have) {
                return Err(format!("{at} is {have}, not a whole number"));
            }
            Ok(())
        }
        (want, have) if kind(want) == kind(have) => Ok(()),
        (want, have) => Err(format!("{at} is {} ({have}), the example has {}", kind(have), kind(want))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_compare_keys_nesting_and_types() {
        let example = json!({"run_id": "r", "output": {"steps": [{"name": "s", "n": 1}], "result": null}});
        let good = json!({"run_id": "x", "output": {"steps": [{"name": "a", "n": 2}], "result": {"z": 1}}});
        assert!(check(&good, &example, "$").is_ok());
        let extra = json!({"run_id": "x", "id": "y", "output": {"steps": [{"name": "a", "n": 2}], "result": 1}});
        assert!(check(&extra, &example, "$").unwrap_err().contains("$.id"));
        let missing = json!({"output": {"steps": [{"name": "a", "n": 2}], "result": 1}});
        assert!(check(&missing, &example, "$").unwrap_err().contains("$.run_id is missing"));
        let float = json!({"run_id": "x", "output": {"steps": [{"name": "a", "n": 2.5}], "result": 1}});
        assert!(check(&float, &example, "$").unwrap_err().contains("whole"));
        let empty = json!({"run_id": "x", "output": {"steps": [], "result": 1}});
        assert!(check(&empty, &example, "$").unwrap_err().contains("empty"));
        let open = json!({"id": "w", MORE: true});
        assert!(check(&json!({"id": "w", "name": "n"}), &open, "$").is_ok());
        assert!(check(&json!({"id": 3}), &open, "$").unwrap_err().contains("a whole number"));
    }
}
