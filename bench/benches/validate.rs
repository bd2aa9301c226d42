//! Benchmark of definition compilation (normalize + validate + DAG build):
//! a 10,000-step chain, a 10,000-step layered DAG (every step with an
//! inputMap JSONPath and a `{{ }}` task template), and a 10,000-step cycle,
//! which must be found and reported. Target: under 50 ms each in release.
//!
//! Run with `cargo bench -p weft-bench --bench validate`. Plain `main`
//! (`harness = false`) so it needs no benchmarking crate.

use std::hint::black_box;
use std::time::{Duration, Instant};

use weft_server::engine::compile::{ProblemCode, compile, validate};
use weft_server::model::definition::{Definition, StepDef};

const STEPS: usize = 10_000;
const WARM_UP: usize = 3;
const RUNS: usize = 20;

/// An agent step that reads its predecessors' outputs.
fn step(i: usize, deps: Vec<usize>) -> StepDef {
    let first = deps.first().copied().unwrap_or(i);
    StepDef {
        id: format!("step_{i}"),
        kind: "agent".into(),
        agent: "worker".into(),
        task: format!("Summarize {{{{ step_{first}.output.summary }}}} for {{{{ input.company }}}}"),
        input_map: [("previous".to_owned(), format!("$.step_{first}.output.items[0]"))].into(),
        depends_on: deps.into_iter().map(|d| format!("step_{d}")).collect(),
        ..StepDef::default()
    }
}

/// `step_0 → step_1 → … → step_9999`, closed into a cycle when `closed`.
fn chain(closed: bool) -> Definition {
    let steps = (0..STEPS)
        .map(|i| match i {
            0 if closed => step(0, vec![STEPS - 1]),
            0 => step(0, Vec::new()),
            _ => step(i, vec![i - 1]),
        })
        .collect();
    Definition { name: "chain".into(), steps, ..Definition::default() }
}

/// 100 layers of 100 steps; each step waits for three of the layer before.
fn layered() -> Definition {
    const WIDTH: usize = 100;
    let steps = (0..STEPS)
        .map(|i| {
            let (layer, at) = (i / WIDTH, i % WIDTH);
            let deps = if layer == 0 {
                Vec::new()
            } else {
                let base = (layer - 1) * WIDTH;
                vec![base + at, base + (at + 1) % WIDTH, base + (at + 37) % WIDTH]
            };
            step(i, deps)
        })
        .collect();
    Definition { name: "layered".into(), steps, ..Definition::default() }
}

/// Runs `f` WARM_UP + RUNS times; returns (min, median) of the timed runs.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration) {
    for _ in 0..WARM_UP {
        black_box(f());
    }
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    (samples[0], samples[RUNS / 2])
}

fn report(case: &str, (min, median): (Duration, Duration)) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{case:<28} min {:>8.2} ms   median {:>8.2} ms", ms(min), ms(median));
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("weft validate bench: {STEPS} steps, {RUNS} runs after {WARM_UP} warm-ups, {cores} cores");

    let valid_chain = chain(false);
    let layers = layered();
    let cycle = chain(true);
    assert!(compile(&valid_chain).is_ok(), "the chain is valid");
    assert!(compile(&layers).is_ok(), "the layered DAG is valid");
    let problems = compile(&cycle).err().unwrap_or_default();
    assert!(problems.len() == 1 && problems[0].code == ProblemCode::Cycle, "the cycle is reported once: {problems:?}");
    println!("cycle message: {}", problems[0].message);

    report("compile chain (valid)", time(|| compile(&valid_chain)));
    report("validate chain (valid)", time(|| validate(&valid_chain)));
    report("compile layered (valid)", time(|| compile(&layers)));
    report("compile chain (cycle)", time(|| compile(&cycle)));
}
