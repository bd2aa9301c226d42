//! Test-only: makes a chosen transition of a marked run panic, to prove a
//! panic in the core is confined to its command and its run.

use std::collections::HashMap;
use std::sync::Mutex;

/// Runs with a transition to panic in: how many of their transitions go
/// through first.
static MARKED: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

/// The next transition of `run_id` panics (once).
pub(crate) fn panic_next_transition(run_id: &str) {
    panic_next_transition_after(run_id, 0);
}

/// The transition of `run_id` after `skip` more panics (once).
pub(crate) fn panic_next_transition_after(run_id: &str, skip: u32) {
    MARKED.lock().unwrap().get_or_insert_with(HashMap::new).insert(run_id.to_string(), skip);
}

/// Panics if `run_id` is marked and its turn has come, and unmarks it.
pub(super) fn panic_if_marked(run_id: &str) {
    let due = {
        let mut marked = MARKED.lock().unwrap();
        let Some(skip) = marked.as_mut().and_then(|m| m.get_mut(run_id)) else { return };
        if *skip > 0 {
            *skip -= 1;
            false
        } else {
            marked.as_mut().map(|m| m.remove(run_id));
            true
        }
    };
    if due {
        panic!("test hook: transition of {run_id} panics");
    }
}
