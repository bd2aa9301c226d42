//! The fuzz targets as tests: each runs bolero's random inputs, after the
//! corpus under `tests/__fuzz__/<target>/corpus/`, for the time
//! `weft_fuzz::budget` gives it (60 s under CI=true, 3 s locally,
//! WEFT_FUZZ_SECONDS to choose). A failure prints the input that broke an
//! invariant (shrunk) and the seed to replay it with. The same tests run
//! under libFuzzer with `cargo bolero test` (fuzz/README.md). The checks
//! of the harness itself are here too.

use std::sync::atomic::Ordering;

use weft_core::compile::compile;
use weft_core::model::definition::Definition;
use weft_fuzz::budget::Run;
use weft_fuzz::{definition, expr, rest, seeds, template};

#[test]
fn definitions() {
    let run = Run::new("definitions", 1.0);
    bolero::check!(name = "definitions")
        .with_test_time(run.time())
        .for_each(|bytes: &[u8]| run.one(bytes, definition::check));
    run.report();
}

#[test]
fn expressions() {
    let run = Run::new("expressions", 1.0);
    bolero::check!(name = "expressions")
        .with_test_time(run.time())
        .for_each(|bytes: &[u8]| run.one(bytes, expr::check));
    run.report();
    eprintln!("(evaluations skipped as over budget so far: {})", expr::OVER_BUDGET.load(Ordering::Relaxed));
}

#[test]
fn templates() {
    let run = Run::new("templates", 1.0);
    bolero::check!(name = "templates")
        .with_test_time(run.time())
        .for_each(|bytes: &[u8]| run.one(bytes, template::check));
    run.report();
    eprintln!("(evaluations skipped as over budget so far: {})", expr::OVER_BUDGET.load(Ordering::Relaxed));
}

#[test]
fn rest_json() {
    let run = Run::new("rest_json", 1.0);
    bolero::check!(name = "rest_json").with_test_time(run.time()).for_each(|bytes: &[u8]| run.one(bytes, rest::check));
    run.report();
}

// The harness itself: seeds that do not compile, or corpus requests that are
// not routed, would leave the targets exercising only refusals.

#[test]
fn every_seed_compiles() {
    for seed in seeds::all() {
        let def: Definition = serde_json::from_value(seed.clone()).expect("a seed deserializes");
        if let Err(problems) = compile(&def) {
            panic!("seed {seed} does not compile: {problems:?}");
        }
    }
}

#[test]
fn every_seed_compiles_the_way_a_request_reads_it() {
    for seed in seeds::all() {
        let text = serde_json::to_vec(&seed).expect("a seed serializes");
        let def = rest::definition_via_api(&text).unwrap_or_else(|| panic!("seed {seed} is refused"));
        if let Err(problems) = compile(&def) {
            panic!("seed {seed} does not compile through the API: {problems:?}");
        }
    }
}

#[test]
fn requests_written_by_hand_are_routed_and_transcoded() {
    let create = br#"POST /v1/workflows
{"name": "w", "steps": [{"id": "a", "agent": "x", "task": "t"}]}"#;
    assert!(rest::check(create));
    let run = br#"POST /v1/workflows/wf_1/runs
{"input": {"n": 1}}"#;
    assert!(rest::check(run), "a path variable is bound");
    assert!(!rest::check(b"POST /v1/workflows\n{\"name\": 3"), "malformed JSON is refused");
    assert!(!rest::check(b"POST /nowhere\n{}"), "no route");
}
