//! The fuzz targets as tests: each runs bolero's random inputs, after the
//! corpus under `tests/__fuzz__/<target>/corpus/`, for the time
//! `weft_fuzz::budget` gives it (60 s under CI=true, 3 s locally,
//! WEFT_FUZZ_SECONDS to choose). A failure prints the input that broke an
//! invariant (shrunk) and the seed to replay it with. The same tests run
//! under libFuzzer with `cargo bolero test` (fuzz/README.md).

use std::sync::atomic::Ordering;

use weft_fuzz::budget::Run;
use weft_fuzz::{definition, expr, rest, template};

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
