//! Properties of the run core over random DAGs (ENGINE.md §1), where the
//! other files prove them on hand-written ones: any order of worker answers
//! gives the same result, a skipped step never runs, and a map never has
//! more items in flight than its concurrency.
//!
//! A DAG is 2–12 top-level steps `s0..sN` of four kinds (transform, agent,
//! condition, map of agent items). A step depends only on earlier steps and
//! a condition branches only to later ones, so index order is a topological
//! order and every generated definition compiles. Conditions read the run
//! input, so which steps run is known in advance: [`expected_to_run`] is an
//! independent model of the skip rules, and the engine is checked against
//! it rather than against itself.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

use super::*;

/// How many DAGs each property tries. Small DAGs hit the interesting cases
/// (skips, joins, full maps) quickly; this keeps each property to a few
/// seconds in a debug build.
const CASES: u32 = 128;

/// A condition's branch is true when its input value is at least this.
const THRESHOLD: u8 = 50;

#[derive(Debug, Clone)]
enum Kind {
    Transform,
    Agent,
    /// Branches to later steps; `value` (the run input it reads) decides.
    Condition {
        on_true: usize,
        on_false: Option<usize>,
        value: u8,
    },
    /// Over an input array of `items` numbers, with agent items.
    Map {
        items: usize,
        concurrency: u32,
    },
}

#[derive(Debug, Clone)]
struct StepSpec {
    kind: Kind,
    /// Earlier steps, no repeats.
    deps: Vec<usize>,
}

/// One random draw for a step, turned into a [`StepSpec`] once its index
/// and the DAG's size are known.
type RawStep = (u8, Vec<usize>, (usize, usize, bool), u8, (usize, u32));

fn raw_step() -> impl Strategy<Value = RawStep> {
    (
        0u8..4,
        prop::collection::vec(any::<usize>(), 0..=3),
        (any::<usize>(), any::<usize>(), any::<bool>()),
        0u8..100,
        (0usize..=5, 0u32..=3),
    )
}

fn dag() -> impl Strategy<Value = Vec<StepSpec>> {
    prop::collection::vec(raw_step(), 2..=12).prop_map(|raw| {
        let n = raw.len();
        raw.into_iter()
            .enumerate()
            .map(|(i, (kind, picks, (t, f, has_false), value, (items, concurrency)))| {
                let mut deps: Vec<usize> = if i == 0 { Vec::new() } else { picks.iter().map(|p| p % i).collect() };
                deps.sort_unstable();
                deps.dedup();
                let later = n - 1 - i;
                let kind = match kind {
                    0 => Kind::Transform,
                    1 => Kind::Agent,
                    // The last step has nothing later to branch to.
                    2 if later == 0 => Kind::Transform,
                    2 => {
                        let on_true = i + 1 + t % later;
                        let on_false = Some(i + 1 + f % later).filter(|&j| has_false && j != on_true);
                        Kind::Condition { on_true, on_false, value }
                    }
                    _ => Kind::Map { items, concurrency },
                };
                StepSpec { kind, deps }
            })
            .collect()
    })
}

fn id(i: usize) -> String {
    format!("s{i}")
}

fn item_id(i: usize) -> String {
    format!("s{i}-item")
}

/// What a dependent reads of step `k`: a map's whole output (an array),
/// a condition's result, else the scalar `n` the other kinds carry. Each
/// selects something (agents' input maps are strict), and outputs stay
/// shallow however deep the DAG.
fn read(spec: &[StepSpec], k: usize) -> String {
    match spec[k].kind {
        Kind::Map { .. } => format!("$.{}.output", id(k)),
        Kind::Condition { .. } => format!("$.{}.output.result", id(k)),
        Kind::Transform | Kind::Agent => format!("$.{}.output.n", id(k)),
    }
}

fn definition(spec: &[StepSpec]) -> Value {
    let steps: Vec<Value> = spec
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let deps: Vec<String> = step.deps.iter().map(|&k| id(k)).collect();
            let reads: Map<String, Value> =
                step.deps.iter().map(|&k| (format!("d{k}"), json!(read(spec, k)))).collect();
            match &step.kind {
                Kind::Transform => {
                    let mut output = reads;
                    let n = step.deps.first().map_or_else(|| format!("$.input.v{i}"), |&k| read(spec, k));
                    output.insert("n".into(), json!(n));
                    json!({"id": id(i), "type": "transform", "dependsOn": deps, "output": output})
                }
                Kind::Agent => json!({"id": id(i), "type": "agent", "agent": "w", "task": format!("do {}", id(i)),
                                      "dependsOn": deps, "inputMap": reads}),
                Kind::Condition { on_true, on_false, .. } => {
                    let mut step = json!({"id": id(i), "type": "condition", "dependsOn": deps,
                        "expression": format!("$.input.v{i} >= {THRESHOLD}"), "onTrue": {"next": id(*on_true)}});
                    if let Some(on_false) = on_false {
                        step["onFalse"] = json!({"next": id(*on_false)});
                    }
                    step
                }
                Kind::Map { concurrency, .. } => json!({"id": id(i), "type": "map", "dependsOn": deps,
                    "over": format!("$.input.m{i}"), "as": "it", "concurrency": concurrency,
                    "step": {"id": item_id(i), "type": "agent", "agent": "w", "task": "item {{ it }}",
                             "inputMap": {"it": "$.it"}}}),
            }
        })
        .collect();
    json!({"steps": steps})
}

fn input(spec: &[StepSpec]) -> Value {
    let mut input = Map::new();
    for (i, step) in spec.iter().enumerate() {
        match step.kind {
            Kind::Condition { value, .. } => input.insert(format!("v{i}"), json!(value)),
            Kind::Map { items, .. } => input.insert(format!("m{i}"), json!((0..items).collect::<Vec<_>>())),
            Kind::Transform => input.insert(format!("v{i}"), json!(i)),
            Kind::Agent => None,
        };
    }
    Value::Object(input)
}

/// The skip rules, stated on their own: a step runs when, if it is a branch
/// target, some branch to it was taken (its condition ran and came out that
/// way), and, if it has dependencies, at least one of them ran.
fn expected_to_run(spec: &[StepSpec]) -> Vec<bool> {
    let mut ran: Vec<bool> = Vec::with_capacity(spec.len());
    for (i, step) in spec.iter().enumerate() {
        let branches: Vec<bool> = spec[..i]
            .iter()
            .enumerate()
            .flat_map(|(j, s)| match s.kind {
                Kind::Condition { on_true, on_false, value } => {
                    let taken = |want: bool| ran[j] && (value >= THRESHOLD) == want;
                    [(on_true == i).then(|| taken(true)), (on_false == Some(i)).then(|| taken(false))]
                }
                _ => [None, None],
            })
            .flatten()
            .collect();
        let branch_open = branches.is_empty() || branches.contains(&true);
        let deps_open = step.deps.is_empty() || step.deps.iter().any(|&k| ran[k]);
        ran.push(branch_open && deps_open);
    }
    ran
}

/// A worker whose answer depends only on the task it was given: a short
/// digest, so outputs stay flat however deep the DAG.
fn answer(task: &TaskDispatch) -> Value {
    let text = format!("{}|{}|{}", task.step, task.task.as_deref().unwrap_or(""), task.input);
    let digest = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x1_0000_01b3));
    json!({"n": digest % 100_000})
}

/// What must not depend on the order of answers.
type Final = (RunStatus, Value, Option<Value>, Vec<(String, StepStatus, Option<Value>)>);

/// Drives a run to its end, answering the in-flight task that `pick`
/// chooses each time, and checks after every transition that no step the
/// model skips is running or ever got a task, and that no map has more
/// items running than its concurrency; at the end, that the run completed
/// with exactly the model's steps skipped. Every property drives through
/// here, so an engine bug fails all three; each adds its own check on top.
/// Answers the final state and, per map, the most items seen running at once.
fn drive(spec: &[StepSpec], mut pick: impl FnMut(usize) -> usize) -> (Final, Vec<usize>) {
    let ran = expected_to_run(spec);
    let mut h = Harness::started(definition(spec), input(spec));
    let mut most = vec![0; spec.len()];
    loop {
        check_in_flight(spec, &ran, &h, &mut most);
        if h.tasks.is_empty() {
            break;
        }
        let keys = h.keys();
        let key = &keys[pick(keys.len()) % keys.len()];
        let output = answer(h.task(key));
        h.succeed(key, output);
    }
    check_end(spec, &ran, &h);
    let steps = h.run.steps().into_iter().map(|v| (v.key, v.status, v.output.cloned())).collect();
    ((h.run.status(), h.run.document().clone(), h.run.output().cloned(), steps), most)
}

fn check_in_flight(spec: &[StepSpec], ran: &[bool], h: &Harness, most: &mut [usize]) {
    let views = h.run.steps();
    for (i, step) in spec.iter().enumerate() {
        let status = h.status(&id(i));
        if !ran[i] {
            // Catches a skip decided too late or not at all: a step whose
            // branch was not taken, or whose dependencies were all skipped,
            // started anyway.
            assert!(matches!(status, StepStatus::Pending | StepStatus::Skipped), "{} is {status:?}", id(i));
        }
        if let Kind::Map { concurrency, .. } = step.kind {
            let running =
                views.iter().filter(|v| v.parent_id == Some(id(i).as_str()) && v.status == StepStatus::Running).count();
            let prefix = format!("{}[", item_id(i));
            let tasks = h.tasks.keys().filter(|k| k.starts_with(&prefix)).count();
            // Catches a map pump that starts the next item without counting
            // the ones still out (0 means one at a time).
            let bound = concurrency.max(1) as usize;
            assert!(running <= bound && tasks <= bound, "{}: {running} running, {tasks} tasks, bound {bound}", id(i));
            most[i] = most[i].max(running);
        }
    }
}

fn check_end(spec: &[StepSpec], ran: &[bool], h: &Harness) {
    let errors: Vec<(String, &str)> = h.run.steps().into_iter().filter_map(|v| Some((v.key, v.error?))).collect();
    assert_eq!(h.run.status(), RunStatus::Completed, "every answer succeeded: {errors:?} {:?}", h.trace());
    let trace = h.trace();
    for (i, step) in spec.iter().enumerate() {
        let (key, status) = (id(i), h.status(&id(i)));
        if ran[i] {
            // Catches over-eager skips: a join after a condition (some
            // dependencies skipped, one completed) must still run.
            assert_eq!(status, StepStatus::Completed, "{key} should have run: {trace:?}");
            continue;
        }
        assert_eq!(status, StepStatus::Skipped, "{key} should be skipped: {trace:?}");
        assert!(!trace.contains(&format!("step.started {key}")), "skipped {key} never starts: {trace:?}");
        let items = format!("{}[", item_id(i));
        let dispatched = h
            .effects
            .iter()
            .any(|e| matches!(e, Effect::DispatchTask(t) if t.step == key || t.step.starts_with(&items)));
        assert!(!dispatched, "skipped {key} never gets a task");
        if let Kind::Map { .. } = step.kind {
            assert!(h.run.steps().iter().all(|v| v.parent_id != Some(key.as_str())), "a skipped map has no items");
        }
    }
}

fn config() -> Config {
    // No regression files written into the source tree: a failure prints
    // its shrunk DAG, which is what a fix needs.
    Config { cases: CASES, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Any order of worker answers gives the same statuses, document, step
    /// outputs and run output as answering the oldest key first or the
    /// newest first. Catches state that leaks between instances in
    /// completion order (a map writing items in completion order, a join
    /// reading whichever branch finished last, a skip decided before every
    /// dependency ended).
    #[test]
    fn any_completion_order_gives_the_same_result(
        spec in dag(),
        order in prop::collection::vec(any::<usize>(), 0..64),
    ) {
        let (first, _) = drive(&spec, |_| 0);
        let (last, _) = drive(&spec, |n| n - 1);
        let mut choices = order.into_iter();
        let (random, _) = drive(&spec, |_| choices.next().unwrap_or(0));
        prop_assert_eq!(&random, &first);
        prop_assert_eq!(&last, &first);
    }

    /// A step the model skips (branch not taken, or every dependency
    /// skipped) never becomes running and never gets a task, in whatever
    /// order the rest completes; a step the model runs completes. The
    /// checks are in `check_in_flight` and `check_end`.
    #[test]
    fn a_skipped_step_never_runs(
        spec in dag(),
        order in prop::collection::vec(any::<usize>(), 0..64),
    ) {
        let mut choices = order.into_iter();
        drive(&spec, |_| choices.next().unwrap_or(0));
    }

    /// A map never has more items running than its concurrency (checked
    /// after every transition in `check_in_flight`), and it does fill up
    /// to it: a map that ran reaches min(concurrency, items) at some point.
    #[test]
    fn a_map_never_exceeds_its_concurrency(
        spec in dag(),
        order in prop::collection::vec(any::<usize>(), 0..64),
    ) {
        let ran = expected_to_run(&spec);
        let mut choices = order.into_iter();
        let (_, most) = drive(&spec, |_| choices.next().unwrap_or(0));
        for (i, step) in spec.iter().enumerate() {
            if let (Kind::Map { items, concurrency }, true) = (&step.kind, ran[i]) {
                prop_assert_eq!(most[i], (*concurrency).max(1).min(*items as u32) as usize, "map {}", id(i));
            }
        }
    }
}
