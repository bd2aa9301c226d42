//! Field paths of steps in a definition (`steps[2].steps[0].inputMap.x`),
//! built only when a problem needs one: formatting a path per step would
//! cost more than checking it.

use std::fmt;

/// Where a step sits under its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `steps[i]` of the definition.
    Top(usize),
    /// `steps[i]` of a parallel or loop step.
    Child(usize),
    /// `step` of a map step.
    Sub,
}

/// A step's path as a chain of slots up to the definition, formatted lazily.
pub struct StepPath<'a> {
    pub parent: Option<&'a dyn fmt::Display>,
    pub slot: Slot,
}

impl fmt::Display for StepPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}")?;
        }
        write_slot(f, self.slot)
    }
}

pub fn write_slot(f: &mut dyn fmt::Write, slot: Slot) -> fmt::Result {
    match slot {
        Slot::Top(i) => write!(f, "steps[{i}]"),
        Slot::Child(i) => write!(f, ".steps[{i}]"),
        Slot::Sub => f.write_str(".step"),
    }
}

/// "Step 'fetch'", or "The step at steps[3]" when the id is empty.
pub fn step_label(id: &str, path: &dyn fmt::Display) -> String {
    if id.is_empty() { format!("The step at {path}") } else { format!("Step '{}'", shorten(id)) }
}

/// Long user text cut for messages, so a 10 kB id does not make a 10 kB
/// message.
pub fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_format_as_json_field_names() {
        let top = StepPath { parent: None, slot: Slot::Top(2) };
        let child = StepPath { parent: Some(&top), slot: Slot::Child(0) };
        let sub = StepPath { parent: Some(&child), slot: Slot::Sub };
        assert_eq!(sub.to_string(), "steps[2].steps[0].step");
        assert_eq!(step_label("", &sub), "The step at steps[2].steps[0].step");
        assert_eq!(step_label("fetch", &sub), "Step 'fetch'");
    }
}
