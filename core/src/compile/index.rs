//! The step tree flattened into one list in preorder (a parent before its
//! sub-steps), with ids resolved, so every later check is a loop instead of
//! a recursion. Flattening is where the step-count and nesting caps apply.

use std::collections::HashMap;
use std::fmt;

use super::StepKind;
use super::path::{Slot, shorten, step_label, write_slot};
use super::problem::{Problem, ProblemCode};
use super::{MAX_NESTING, MAX_STEPS};
use crate::model::definition::{Definition, StepDef};

/// One step of the tree.
pub struct Entry<'a> {
    pub step: &'a StepDef,
    pub parent: Option<usize>,
    pub slot: Slot,
    pub depth: usize,
}

/// Every step of a definition, sub-steps included.
pub struct StepIndex<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Id → first entry with that id.
    pub ids: HashMap<&'a str, usize>,
}

impl<'a> StepIndex<'a> {
    /// Flattens `def`, reporting duplicate ids and nesting beyond the cap.
    /// Returns `None` (after reporting) when the definition has more steps
    /// than [`MAX_STEPS`]: checking it further would only burn time.
    pub fn build(def: &'a Definition, problems: &mut Vec<Problem>) -> Option<Self> {
        let mut entries: Vec<Entry<'a>> = Vec::with_capacity(def.steps.len());
        let mut stack: Vec<Entry<'a>> = def
            .steps
            .iter()
            .enumerate()
            .rev()
            .map(|(i, step)| Entry { step, parent: None, slot: Slot::Top(i), depth: 0 })
            .collect();
        while let Some(entry) = stack.pop() {
            if entries.len() == MAX_STEPS {
                let message = format!(
                    "The definition has more than {MAX_STEPS} steps (sub-steps included); split it into several workflows"
                );
                problems.push(Problem::new("", "steps", ProblemCode::LimitExceeded, message));
                return None;
            }
            let me = entries.len();
            let (step, depth) = (entry.step, entry.depth);
            entries.push(entry);
            let has_children = !step.steps.is_empty() || step.step.is_some();
            if has_children && depth >= MAX_NESTING {
                let path = EntryPath { entries: &entries, at: me };
                let message =
                    format!("{} nests sub-steps more than {MAX_NESTING} levels deep", step_label(&step.id, &path));
                problems.push(Problem::new(&step.id, path.to_string(), ProblemCode::LimitExceeded, message));
                continue;
            }
            if let Some(sub) = step.step.as_deref() {
                stack.push(Entry { step: sub, parent: Some(me), slot: Slot::Sub, depth: depth + 1 });
            }
            for (i, child) in step.steps.iter().enumerate().rev() {
                stack.push(Entry { step: child, parent: Some(me), slot: Slot::Child(i), depth: depth + 1 });
            }
        }
        let mut index = StepIndex { ids: HashMap::with_capacity(entries.len()), entries };
        index.resolve_ids(problems);
        Some(index)
    }

    fn resolve_ids(&mut self, problems: &mut Vec<Problem>) {
        for (i, entry) in self.entries.iter().enumerate() {
            let id = entry.step.id.as_str();
            if id.is_empty() {
                continue; // reported by the id checks
            }
            if let Some(&first) = self.ids.get(id) {
                let message = format!(
                    "Step id '{}' is used twice, at {} and at {}; step ids must be unique, sub-steps included",
                    shorten(id),
                    self.path(first),
                    self.path(i)
                );
                problems.push(Problem::new(id, format!("{}.id", self.path(i)), ProblemCode::DuplicateStepId, message));
            } else {
                self.ids.insert(id, i);
            }
        }
    }

    /// The entry whose step has this id, if any.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.ids.get(id).copied()
    }

    /// Field path of entry `i`, e.g. `steps[2].steps[0]`.
    pub fn path(&self, i: usize) -> String {
        self.path_display(i).to_string()
    }

    /// Field path of entry `i`, formatted only when displayed.
    pub fn path_display(&self, i: usize) -> impl fmt::Display + '_ {
        EntryPath { entries: &self.entries, at: i }
    }

    /// The outermost map or loop entry `i` is inside (its instances run
    /// per item there); `None` for steps that run once.
    pub fn iteration_owner(&self, i: usize) -> Option<usize> {
        let mut owner = None;
        let mut at = self.entries[i].parent;
        while let Some(p) = at {
            if StepKind::from_name(&self.entries[p].step.kind).is_some_and(StepKind::iterates) {
                owner = Some(p);
            }
            at = self.entries[p].parent;
        }
        owner
    }

    /// True when entry `i` runs once per item of a map or loop.
    pub fn in_iteration(&self, i: usize) -> bool {
        self.iteration_owner(i).is_some()
    }

    /// "Step 'id'" or "The step at steps[3]".
    pub fn label(&self, i: usize) -> String {
        step_label(&self.entries[i].step.id, &self.path_display(i))
    }
}

struct EntryPath<'e, 'a> {
    entries: &'e [Entry<'a>],
    at: usize,
}

impl fmt::Display for EntryPath<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut slots = Vec::new();
        let mut at = Some(self.at);
        while let Some(i) = at {
            let entry = &self.entries[i];
            slots.push(entry.slot);
            at = entry.parent;
        }
        slots.into_iter().rev().try_for_each(|slot| write_slot(f, slot))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tree_is_flattened_parent_first_with_paths() {
        let def: Definition = serde_json::from_value(json!({"steps": [
            {"id": "a"},
            {"id": "p", "type": "parallel", "steps": [{"id": "c1"}, {"id": "c2"}]},
            {"id": "m", "type": "map", "step": {"id": "s"}},
        ]}))
        .expect("deserializes");
        let mut problems = Vec::new();
        let index = StepIndex::build(&def, &mut problems).expect("small tree");
        assert!(problems.is_empty());
        let ids: Vec<&str> = index.entries.iter().map(|e| e.step.id.as_str()).collect();
        assert_eq!(ids, ["a", "p", "c1", "c2", "m", "s"]);
        assert_eq!(index.path(3), "steps[1].steps[1]");
        assert_eq!(index.path(5), "steps[2].step");
        assert_eq!(index.entries[3].parent, Some(1));
        assert_eq!(index.find("s"), Some(5));
    }

    #[test]
    fn duplicate_ids_across_the_tree_are_reported_once_per_repeat() {
        let def: Definition = serde_json::from_value(json!({"steps": [
            {"id": "a"}, {"id": "p", "type": "parallel", "steps": [{"id": "a"}]}, {"id": "a"},
        ]}))
        .expect("deserializes");
        let mut problems = Vec::new();
        let index = StepIndex::build(&def, &mut problems).expect("small tree");
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].field, "steps[1].steps[0].id");
        assert_eq!(problems[0].code, ProblemCode::DuplicateStepId);
        assert_eq!(index.find("a"), Some(0));
    }

    #[test]
    fn nesting_beyond_the_cap_is_refused_without_descending() {
        let mut step = StepDef { id: "leaf".into(), ..StepDef::default() };
        for level in 0..40 {
            step =
                StepDef { id: format!("p{level}"), kind: "parallel".into(), steps: vec![step], ..StepDef::default() };
        }
        let def = Definition { steps: vec![step], ..Definition::default() };
        let mut problems = Vec::new();
        let index = StepIndex::build(&def, &mut problems).expect("few steps");
        assert_eq!(index.entries.len(), MAX_NESTING + 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, ProblemCode::LimitExceeded);
    }
}
