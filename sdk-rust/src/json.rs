//! Conversions between `serde_json::Value` and protobuf's JSON-like
//! well-known types (`google.protobuf.Value` / `Struct`), which carry every
//! free-form document of the API: run inputs and outputs, shared state,
//! schemas.

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

/// A JSON value as a `google.protobuf.Value`.
pub fn to_proto_value(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(to_proto_value).collect() })
        }
        Value::Object(map) => Kind::StructValue(to_proto_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn to_proto_struct(map: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct { fields: map.iter().map(|(k, v)| (k.clone(), to_proto_value(v))).collect() }
}

/// A JSON value as a `Struct`: `None` unless it is an object (schemas and
/// shared state must be objects; the server says so for anything else).
pub fn object_to_proto_struct(value: &Value) -> Option<prost_types::Struct> {
    value.as_object().map(to_proto_struct)
}

/// A `google.protobuf.Value` as JSON. Whole numbers come back as integers
/// (`3`, not `3.0`): protobuf carries every number as a double.
pub fn from_proto_value(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(from_proto_value).collect()),
        Some(Kind::StructValue(s)) => from_proto_struct(s),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn from_proto_struct(value: &prost_types::Struct) -> Value {
    Value::Object(value.fields.iter().map(|(k, v)| (k.clone(), from_proto_value(v))).collect())
}

fn number(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is a double exactly
    if n.fract() == 0.0 && n.abs() < EXACT {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_survives_the_round_trip_with_whole_numbers_whole() {
        let value = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}, "d": {}});
        assert_eq!(from_proto_value(&to_proto_value(&value)), value);
    }

    #[test]
    fn only_objects_become_structs() {
        assert!(object_to_proto_struct(&json!({"type": "object"})).is_some());
        assert!(object_to_proto_struct(&json!([1])).is_none());
    }
}
