//! The server's longest pause (`max_paused_lifetime`): a timer armed when
//! the run becomes Paused fails it with RUN_TIMEOUT if it is still in that
//! pause; ending the pause withdraws the timer, and a timer of an earlier
//! pause ends nothing. Without a limit no timer is armed.

use serde_json::json;

use super::*;

fn gate() -> Value {
    json!({"steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "a"},
        {"id": "b", "type": "agent", "agent": "w", "task": "b", "dependsOn": ["a"]},
    ]})
}

fn limited(ms: i64) -> Harness {
    let mut h = Harness::new(workflow(gate()));
    h.run.set_max_paused_ms(Some(ms));
    h.start(json!({}));
    h
}

fn pause_timers(h: &Harness) -> Vec<(String, i64)> {
    h.timers.iter().filter(|(k, _)| k.starts_with(PAUSED_TIMER_PREFIX)).map(|(k, d)| (k.clone(), *d)).collect()
}

#[test]
fn a_run_paused_past_the_limit_fails_with_run_timeout() {
    let mut h = limited(60_000);
    let now_ms = h.now_ms;
    h.apply(Command::Pause { reason: "lunch".into(), now_ms }).expect("pauses");
    let timers = pause_timers(&h);
    assert_eq!(timers, [(format!("{PAUSED_TIMER_PREFIX}{now_ms}"), now_ms + 60_000)]);
    let key = timers[0].0.clone();
    h.fire(&key);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::RunTimeout));
    assert!(h.run.error().unwrap().contains("max_paused_lifetime"), "{:?}", h.run.error());
}

#[test]
fn ending_the_pause_withdraws_its_timer_and_a_stale_one_ends_nothing() {
    let mut h = limited(60_000);
    let now_ms = h.now_ms;
    h.apply(Command::Pause { reason: "first".into(), now_ms }).unwrap();
    let first = pause_timers(&h)[0].0.clone();
    h.now_ms += 10;
    let now_ms = h.now_ms;
    h.apply(Command::Continue { from_step: None, now_ms }).unwrap();
    assert!(pause_timers(&h).is_empty(), "withdrawn: {:?}", h.timers);
    h.now_ms += 10;
    let now_ms = h.now_ms;
    h.apply(Command::Pause { reason: "second".into(), now_ms }).unwrap();
    // The timer loop may still fire the withdrawn timer of the first pause.
    let stale = h.apply(Command::TimerFired { step: first, now_ms: now_ms + 60_000 });
    assert!(matches!(stale, Err(TransitionError::UnknownStep(_))), "{stale:?}");
    assert_eq!(h.run.status(), RunStatus::Paused);
    // A finished run withdraws the timer too.
    let now_ms = h.now_ms;
    h.apply(Command::Cancel { reason: "done".into(), now_ms }).unwrap();
    assert!(pause_timers(&h).is_empty(), "{:?}", h.timers);
}

#[test]
fn without_a_limit_no_timer_is_armed() {
    let mut h = Harness::started(gate(), json!({}));
    let now_ms = h.now_ms;
    h.apply(Command::Pause { reason: "r".into(), now_ms }).unwrap();
    assert!(pause_timers(&h).is_empty());
    let now_ms = h.now_ms + 10;
    h.apply(Command::Continue { from_step: None, now_ms }).unwrap();
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::CancelTimer { .. })), "nothing to withdraw");
}
