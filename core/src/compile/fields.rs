//! The one table of step fields: for every field of [`StepDef`], its JSON
//! name, the other keys it may be written as, which step types use it, how
//! to tell it is set, and how a `config` object's value moves into it.
//!
//! Every list of step fields is read from here: the keys a planner's step
//! may use (`plan.rs`), the keys a `config` object may set
//! (`normalize.rs`), and the type-specific fields a step type ignores
//! (`checks.rs`). A test serializes a step with every field set and checks
//! the table against it, so a new `StepDef` field cannot be forgotten.

use self::Role::{Shared, Specific};
use super::StepKind::{
    self, Agent, Approval, Condition, Delay, HttpRequest, Loop, Map, Parallel, Planner, Script, Transform, Wait,
    Webhook,
};
use crate::model::definition::StepDef;

/// One field of a step definition.
struct Field {
    /// The JSON name, as [`StepDef`] writes it.
    name: &'static str,
    /// Who the field belongs to.
    role: Role,
    /// Other keys a planner's step may use for it (serde aliases).
    plan_aliases: &'static [&'static str],
    /// Other names a `config` object may use for it, after its key is
    /// turned camelCase (`agent_id` → `agentId`).
    config_aliases: &'static [&'static str],
    /// True when the step holds a non-default value.
    is_set: fn(&StepDef) -> bool,
    /// Moves this field of `from` (a step parsed from one config key) into
    /// the step: fills it when unset, accepts an equal value, and fails
    /// when the step already holds a different one. `None` for the fields a
    /// config object may not set.
    fill: Option<Fill>,
}

/// Moves one field of a step parsed from a config key into a step.
pub type Fill = fn(&mut StepDef, StepDef) -> Result<(), Contradiction>;

/// A config value differs from the value the step's own field holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Contradiction;

/// Who a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// What makes a step: its id, its type, and the `config` object that
    /// normalization empties. A config object cannot set them.
    Frame,
    /// Used by every step type (dependencies, inputs, retries, …).
    Shared,
    /// Used only by these step types; set on another type it is reported.
    Specific(&'static [StepKind]),
}

/// A row whose probe and fill read the `StepDef` field `$field`; "set"
/// means "not the default", which is also what [`fill`] treats as unset
/// (and what `StepDef`'s `skip_serializing_if` leaves out).
macro_rules! field {
    ($name:literal, $field:ident, Frame) => {
        Field {
            name: $name,
            role: Role::Frame,
            plan_aliases: &[],
            config_aliases: &[],
            is_set: |s| !is_default(&s.$field),
            fill: None,
        }
    };
    ($name:literal, $field:ident, $role:expr) => {
        Field {
            name: $name,
            role: $role,
            plan_aliases: &[],
            config_aliases: &[],
            is_set: |s| !is_default(&s.$field),
            fill: Some(|s, from| fill(&mut s.$field, from.$field)),
        }
    };
}

impl Field {
    /// True when a `kind` step has no use for this field.
    fn unused_by(&self, kind: StepKind) -> bool {
        match self.role {
            Role::Specific(kinds) => !kinds.contains(&kind),
            Role::Frame | Role::Shared => false,
        }
    }

    const fn with_plan_aliases(self, aliases: &'static [&'static str]) -> Self {
        Field { plan_aliases: aliases, ..self }
    }

    const fn with_config_aliases(self, aliases: &'static [&'static str]) -> Self {
        Field { config_aliases: aliases, ..self }
    }
}

/// Every step field, in `StepDef` order; type-specific fields are reported
/// in this order.
const FIELDS: &[Field] = &[
    field!("id", id, Frame),
    field!("type", kind, Frame),
    field!("dependsOn", depends_on, Shared).with_plan_aliases(&["depends_on"]),
    field!("inputMap", input_map, Shared),
    field!("onStepFailure", on_step_failure, Shared),
    field!("stateReads", state_reads, Shared),
    field!("stateWrites", state_writes, Shared),
    field!("retries", retries, Shared),
    field!("timeout", timeout, Shared),
    field!("agent", agent, Specific(&[Agent, Planner])).with_config_aliases(&["agentId"]),
    field!("task", task, Specific(&[Agent, Planner])).with_config_aliases(&["goal"]),
    field!("steps", steps, Specific(&[Parallel, Loop])),
    field!("expression", expression, Specific(&[Condition, Wait])).with_config_aliases(&["condition"]),
    field!("onTrue", on_true, Specific(&[Condition])),
    field!("onFalse", on_false, Specific(&[Condition])),
    field!("duration", duration, Specific(&[Delay, Wait])),
    field!("action", action, Specific(&[Approval])),
    field!("defaultAction", default_action, Specific(&[Approval])),
    field!("message", message, Specific(&[Approval])),
    field!("options", options, Specific(&[Approval])),
    field!("url", url, Specific(&[Webhook, HttpRequest])),
    field!("method", method, Specific(&[Webhook, HttpRequest])),
    field!("headers", headers, Specific(&[Webhook, HttpRequest])),
    field!("waitForCallback", wait_for_callback, Specific(&[Webhook])),
    field!("body", body, Specific(&[HttpRequest])),
    field!("output", output, Specific(&[Transform])),
    field!("over", over, Specific(&[Map, Loop])),
    field!("as", as_name, Specific(&[Map, Loop])),
    field!("concurrency", concurrency, Specific(&[Map])),
    field!("step", step, Specific(&[Map, Loop])),
    field!("maxIterations", max_iterations, Specific(&[Loop])),
    field!("while", while_condition, Specific(&[Loop])),
    field!("until", until_condition, Specific(&[Loop])),
    field!("event", event, Specific(&[Wait])),
    field!("onTimeout", on_timeout, Specific(&[Wait])),
    field!("language", language, Specific(&[Script])),
    field!("script", script, Specific(&[Script])),
    field!("config", config, Frame),
];

/// True when a planner's step may have the key `key`: a field's name or
/// one of its plan aliases.
pub fn is_plan_key(key: &str) -> bool {
    FIELDS.iter().any(|f| f.name == key || f.plan_aliases.contains(&key))
}

/// The JSON name and fill of the field a `config` key names, once made
/// camelCase; `None` when it names none, or one a config object may not
/// set.
pub fn config_field(camel: &str) -> Option<(&'static str, Fill)> {
    FIELDS.iter().filter(|f| f.name == camel || f.config_aliases.contains(&camel)).find_map(|f| Some((f.name, f.fill?)))
}

/// JSON names of the type-specific fields `step` sets that a `kind` step
/// does not use, in table order.
pub fn unused_fields(step: &StepDef, kind: StepKind) -> impl Iterator<Item = &'static str> + '_ {
    FIELDS.iter().filter(move |f| f.unused_by(kind) && (f.is_set)(step)).map(|f| f.name)
}

fn is_default<T: PartialEq + Default>(value: &T) -> bool {
    *value == T::default()
}

/// Fills an unset field; agreeing values are fine, differing ones are not.
fn fill<T: PartialEq + Default>(slot: &mut T, value: T) -> Result<(), Contradiction> {
    if *slot == value {
        Ok(())
    } else if *slot == T::default() {
        *slot = value;
        Ok(())
    } else {
        Err(Contradiction)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;
    use crate::compile::tests::every_field_set;

    fn keys(step: &StepDef) -> Vec<String> {
        match serde_json::to_value(step).expect("a step serializes") {
            Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("a step serializes to an object, not {other}"),
        }
    }

    #[test]
    fn the_table_lists_every_step_field_once_in_serialization_order() {
        let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(keys(&every_field_set()), names);
        let mut seen = HashSet::new();
        for field in FIELDS {
            for key in [field.name].iter().chain(field.plan_aliases).chain(field.config_aliases) {
                assert!(seen.insert(*key), "'{key}' names two fields");
            }
        }
    }

    #[test]
    fn each_probe_and_fill_reads_its_own_field() {
        let full = every_field_set();
        for field in FIELDS {
            assert!((field.is_set)(&full), "{}", field.name);
            assert!(!(field.is_set)(&StepDef::default()), "{}", field.name);
            let Some(fill) = field.fill else {
                assert_eq!(field.role, Role::Frame, "{}", field.name);
                continue;
            };
            let mut step = StepDef::default();
            assert_eq!(fill(&mut step, full.clone()), Ok(()), "{}", field.name);
            assert_eq!(keys(&step), ["id", field.name], "{} fills only its own field", field.name);
            let set: Vec<&str> = FIELDS.iter().filter(|f| (f.is_set)(&step)).map(|f| f.name).collect();
            assert_eq!(set, [field.name], "{} probes only its own field", field.name);
            assert_eq!(fill(&mut step, full.clone()), Ok(()), "{}: an equal value agrees", field.name);
            assert_eq!(
                fill(&mut step, StepDef::default()),
                Err(Contradiction),
                "{}: a different value contradicts",
                field.name
            );
        }
    }

    #[test]
    fn plan_aliases_are_read_by_serde() {
        let full = serde_json::to_value(every_field_set()).expect("a step serializes");
        for field in FIELDS {
            for alias in field.plan_aliases {
                let written = serde_json::json!({ *alias: full[field.name] });
                let step: StepDef = serde_json::from_value(written).expect("the alias is read");
                assert!((field.is_set)(&step), "{alias}");
            }
        }
    }

    #[test]
    fn every_specific_field_belongs_to_some_type() {
        for field in FIELDS {
            if let Role::Specific(kinds) = field.role {
                assert!(!kinds.is_empty(), "{}", field.name);
            }
        }
    }
}
