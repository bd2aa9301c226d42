//! The keys a family writes for protobuf fields: the JSON name
//! (`createdAt`), or its snake_case form (`created_at`), with per-field
//! renames (`weft.v1.StepRun.id` written `step_id`). Only field keys are
//! named here: the keys of `Struct` values and maps are data and are
//! written as stored, whatever the family.

use std::borrow::Cow;

use prost_reflect::FieldDescriptor;

/// How field keys are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// The field's JSON name: lowerCamelCase, or its `json_name` option.
    Json,
    /// The JSON name in snake_case (`createdAt` → `created_at`), so that
    /// fields renamed for JSON keep their documented spelling too.
    Snake,
}

/// One field written under another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rename {
    /// The field's full name (`weft.v1.Run.steps`).
    pub field: &'static str,
    /// The key it is written under.
    pub key: &'static str,
}

/// The naming of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Naming {
    /// The default spelling.
    pub style: KeyStyle,
    /// Fields written under another key than the style gives.
    pub renames: &'static [Rename],
    /// Prefix of this naming's OpenAPI component schemas (`api.`), empty for
    /// the JSON names the request schemas use.
    pub schema_prefix: &'static str,
}

impl Naming {
    /// protobuf's JSON names, as `/v1` writes them.
    pub const JSON: Naming = Naming { style: KeyStyle::Json, renames: &[], schema_prefix: "" };

    /// The key `field` is written under.
    pub fn key<'f>(&self, field: &'f FieldDescriptor) -> Cow<'f, str> {
        if !self.renames.is_empty() {
            let full = field.full_name();
            if let Some(rename) = self.renames.iter().find(|r| r.field == full) {
                return Cow::Borrowed(rename.key);
            }
        }
        match self.style {
            KeyStyle::Json => Cow::Borrowed(field.json_name()),
            KeyStyle::Snake => snake_case(field.json_name()),
        }
    }

    /// Whether this naming writes every key as protobuf's JSON mapping does.
    pub fn is_json(&self) -> bool {
        self.style == KeyStyle::Json && self.renames.is_empty()
    }
}

/// `createdAt` → `created_at`; text with no upper-case letter is returned
/// as it is.
pub fn snake_case(name: &str) -> Cow<'_, str> {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::descriptors::pool;

    fn field(message: &str, name: &str) -> FieldDescriptor {
        pool().get_message_by_name(message).unwrap().get_field_by_name(name).unwrap()
    }

    #[test]
    fn snake_case_splits_at_capitals_only() {
        assert_eq!(snake_case("createdAt"), "created_at");
        assert_eq!(snake_case("canRetryFrom"), "can_retry_from");
        assert_eq!(snake_case("status"), "status");
        assert!(matches!(snake_case("status"), Cow::Borrowed(_)));
    }

    #[test]
    fn keys_follow_the_style_then_the_renames() {
        const RENAMES: &[Rename] = &[Rename { field: "weft.v1.Run.steps", key: "step_runs" }];
        let snake = Naming { style: KeyStyle::Snake, renames: RENAMES, schema_prefix: "api." };
        assert_eq!(snake.key(&field("weft.v1.Run", "create_time")), "created_at");
        assert_eq!(snake.key(&field("weft.v1.Run", "workflow_id")), "workflow_id");
        assert_eq!(snake.key(&field("weft.v1.Run", "steps")), "step_runs");
        assert_eq!(Naming::JSON.key(&field("weft.v1.Run", "create_time")), "createdAt");
        assert_eq!(Naming::JSON.key(&field("weft.v1.Run", "workflow_id")), "workflowId");
        assert!(Naming::JSON.is_json() && !snake.is_json());
    }
}
