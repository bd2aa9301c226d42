//! Test-only: makes a chosen transition of a marked run panic, to prove a
//! panic in the core is confined to its command and its run; or makes the
//! writer itself panic outside any transition, to prove its end is seen.

use std::collections::{HashMap, HashSet};
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

/// Runs a command for which kills the writer (outside any transition).
static KILLERS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The writer panics, outside `catch_unwind`, when it next takes a command
/// for `run_id`.
pub(crate) fn kill_writer_on(run_id: &str) {
    KILLERS.lock().unwrap().get_or_insert_with(HashSet::new).insert(run_id.to_string());
}

/// Panics if a command for `run_id` was made to kill the writer.
pub(super) fn kill_if_marked(run_id: &str) {
    let marked = KILLERS.lock().unwrap().as_mut().is_some_and(|k| k.remove(run_id));
    if marked {
        panic!("test hook: the writer dies on a command for {run_id}");
    }
}
