//! How the REST surface spells enum values: `RUN_STATUS_RUNNING` is
//! written `running`, and read either way. A leaf, so the request reader
//! ([`super::json_encode`]), the answer writer ([`super::json_write`]) and
//! the OpenAPI document ([`super::openapi`]) share one spelling without
//! importing each other.

use prost_reflect::EnumDescriptor;

/// `RunStatus` -> `RUN_STATUS_`, the prefix every value of the enum carries.
fn enum_prefix(descriptor: &EnumDescriptor) -> String {
    let mut prefix = String::new();
    for (i, c) in descriptor.name().chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.extend(c.to_uppercase());
    }
    prefix.push('_');
    prefix
}

/// `RUN_STATUS_RUNNING` without the prefix its enum `RunStatus` gives every
/// value (`RUNNING`); the whole name when it lacks the prefix. Compares as
/// it goes, so the hot answer path allocates nothing.
pub(super) fn strip_enum_prefix<'a>(enum_name: &str, value_name: &'a str) -> &'a str {
    let bytes = value_name.as_bytes();
    let mut at = 0;
    let mut matches = |expected: u8| {
        let ok = bytes.get(at) == Some(&expected);
        at += 1;
        ok
    };
    for (i, c) in enum_name.bytes().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !matches(b'_') {
            return value_name;
        }
        if !matches(c.to_ascii_uppercase()) {
            return value_name;
        }
    }
    if !matches(b'_') {
        return value_name;
    }
    &value_name[at..]
}

/// The documented spelling of an enum value: `RUN_STATUS_RUNNING` ->
/// `running`.
pub(super) fn enum_value_json_name(descriptor: &EnumDescriptor, proto_name: &str) -> String {
    strip_enum_prefix(descriptor.name(), proto_name).to_ascii_lowercase()
}

/// The number of an enum value written either way (`running` or
/// `RUN_STATUS_RUNNING`); `None` when it names no value.
pub(super) fn enum_value_number(descriptor: &EnumDescriptor, written: &str) -> Option<i32> {
    if let Some(value) = descriptor.get_value_by_name(written) {
        return Some(value.number());
    }
    let candidate = format!("{}{}", enum_prefix(descriptor), written.to_ascii_uppercase());
    descriptor.get_value_by_name(&candidate).map(|value| value.number())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_prefixes_are_stripped_only_when_whole() {
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STATUS_RUNNING"), "RUNNING");
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STATUSX"), "RUN_STATUSX");
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STAT"), "RUN_STAT");
        assert_eq!(strip_enum_prefix("FailureMode", "FAILURE_MODE_STOP"), "STOP");
    }
}
