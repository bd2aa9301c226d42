//! Test-only: makes the next transition of a marked run panic, to prove a
//! panic in the core is confined to its command and its run.

use std::collections::HashSet;
use std::sync::Mutex;

/// Runs whose next transition panics (once).
static MARKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The next transition of `run_id` panics.
pub(crate) fn panic_next_transition(run_id: &str) {
    MARKED.lock().unwrap().get_or_insert_with(HashSet::new).insert(run_id.to_string());
}

/// Panics if `run_id` was marked, and unmarks it.
pub(super) fn panic_if_marked(run_id: &str) {
    let marked = MARKED.lock().unwrap().as_mut().is_some_and(|marked| marked.remove(run_id));
    if marked {
        panic!("test hook: transition of {run_id} panics");
    }
}
