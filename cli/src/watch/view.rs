//! What the live view shows, computed from a `Run` alone: one row per step
//! (map items and loop iterations folded into their parent's `done/total`
//! count), each with a glyph and a status word, so the status never rests
//! on colour alone. Pure, so it is tested without a terminal.

use std::time::SystemTime;

use owo_colors::OwoColorize;
use weft_sdk::pb::{self, RunStatus, StepStatus};

use crate::output::{money, seconds};

/// One line of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The step's id.
    pub id: String,
    /// Its status.
    pub status: StepStatus,
    /// 0 for a top-level step, 1 under a parallel or planner step.
    pub depth: usize,
    /// Spliced into the run by a planner step.
    pub planned: bool,
    /// For map and loop steps: items finished and items known.
    pub progress: Option<(u64, u64)>,
    /// Seconds it ran (so far, while running).
    pub seconds: Option<u64>,
    /// What it cost (cents, currency), its items' and iterations' included;
    /// None when nothing was reported.
    pub cost: Option<(i64, String)>,
}

/// The rows of `run`, in the run's step order.
pub fn rows(run: &pb::Run, now: SystemTime) -> Vec<Row> {
    let kind_of = |id: &str| run.steps.iter().find(|s| s.id == id).map(|s| s.r#type.as_str()).unwrap_or_default();
    let mut rows: Vec<Row> = Vec::new();
    for step in &run.steps {
        let parent_kind = if step.parent_id.is_empty() { "" } else { kind_of(&step.parent_id) };
        let status = StepStatus::try_from(step.status).unwrap_or(StepStatus::Unspecified);
        // Items and iterations count toward their parent's bar.
        if step.item_index.is_some() && matches!(parent_kind, "map" | "loop") {
            if let Some(parent) = rows.iter_mut().find(|r| r.id == step.parent_id) {
                let (done, total) = parent.progress.unwrap_or((0, 0));
                parent.progress = Some((done + u64::from(is_finished(status)), total + 1));
                if let Some(cost) = step.cost.as_ref().filter(|c| c.amount > 0) {
                    let (cents, currency) = parent.cost.get_or_insert((0, cost.currency.clone()));
                    // Mixed currencies are not summed; the first one shown stands.
                    if *currency == cost.currency {
                        *cents += cost.amount;
                    }
                }
            }
            continue;
        }
        let progress = matches!(step.r#type.as_str(), "map" | "loop").then_some((0, 0));
        rows.push(Row {
            id: step.id.clone(),
            status,
            depth: usize::from(!step.parent_id.is_empty()),
            planned: parent_kind == "planner",
            progress,
            seconds: step_seconds(step, status, now),
            cost: step.cost.as_ref().filter(|c| c.amount > 0).map(|c| (c.amount, c.currency.clone())),
        });
    }
    rows
}

fn money_of((cents, currency): &(i64, String)) -> String {
    money(&serde_json::json!({"amount": cents, "currency": currency}))
}

/// Finished for a progress count: the item will not change any more.
fn is_finished(status: StepStatus) -> bool {
    match status {
        StepStatus::Completed | StepStatus::Failed | StepStatus::Skipped | StepStatus::Cancelled => true,
        StepStatus::Unspecified
        | StepStatus::Pending
        | StepStatus::Ready
        | StepStatus::Running
        | StepStatus::Paused
        | StepStatus::Waiting => false,
    }
}

/// The step's recorded duration once finished; the time since it started
/// while it runs; nothing before it starts.
fn step_seconds(step: &pb::StepRun, status: StepStatus, now: SystemTime) -> Option<u64> {
    if is_finished(status) {
        return step.start_time.is_some().then_some(u64::from(step.duration));
    }
    let started = step.start_time.as_ref()?;
    let started = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(started.seconds).ok()?);
    Some(now.duration_since(started).map(|d| d.as_secs()).unwrap_or(0))
}

/// The glyph and word of a step status.
pub fn glyph(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Unspecified => ("?", "unknown"),
        StepStatus::Pending => ("·", "pending"),
        StepStatus::Ready => ("○", "ready"),
        StepStatus::Running => ("▶", "running"),
        StepStatus::Paused => ("‖", "paused"),
        StepStatus::Waiting => ("…", "waiting"),
        StepStatus::Completed => ("✓", "completed"),
        StepStatus::Failed => ("✗", "failed"),
        StepStatus::Skipped => ("↷", "skipped"),
        StepStatus::Cancelled => ("⊘", "cancelled"),
    }
}

/// The glyph, coloured for a terminal.
fn coloured_glyph(status: StepStatus) -> String {
    let (glyph, _) = glyph(status);
    match status {
        StepStatus::Completed => glyph.green().to_string(),
        StepStatus::Failed => glyph.red().to_string(),
        StepStatus::Running | StepStatus::Ready => glyph.cyan().to_string(),
        StepStatus::Paused | StepStatus::Waiting => glyph.yellow().to_string(),
        StepStatus::Cancelled => glyph.magenta().to_string(),
        StepStatus::Unspecified | StepStatus::Pending | StepStatus::Skipped => glyph.dimmed().to_string(),
    }
}

/// A row as text, without its progress count (the bar or the plain line
/// adds it): `✓ fetch            completed     3s   $0.12`.
pub fn line(row: &Row, width: usize, colour: bool) -> String {
    let (plain_glyph, word) = glyph(row.status);
    let glyph = if colour { coloured_glyph(row.status) } else { plain_glyph.to_string() };
    let indent = "  ".repeat(row.depth);
    let name_width = width.saturating_sub(indent.len());
    let mut text = format!(
        "{glyph} {indent}{:<name_width$} {word:<9} {:>6} {:>8}",
        row.id,
        row.seconds.map(seconds).unwrap_or_default(),
        row.cost.as_ref().map(money_of).unwrap_or_default(),
    );
    if row.planned {
        text.push_str(" (planned)");
    }
    text
}

/// The widest step id plus indent, for aligned columns.
pub fn name_width(rows: &[Row]) -> usize {
    rows.iter().map(|r| r.id.chars().count() + 2 * r.depth).max().unwrap_or(0).max(4)
}

/// Terminal statuses, with the exit code each gives.
pub fn outcome(status: RunStatus) -> Option<i32> {
    match status {
        RunStatus::Completed => Some(0),
        RunStatus::Failed => Some(1),
        RunStatus::Partial => Some(2),
        RunStatus::Cancelled => Some(3),
        RunStatus::Unspecified | RunStatus::Pending | RunStatus::Running | RunStatus::Paused | RunStatus::Queued => {
            None
        }
    }
}

/// The run's status word (`running`).
pub fn run_status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Unspecified => "unknown",
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Paused => "paused",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Partial => "partial",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Queued => "queued",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, kind: &str, status: StepStatus, parent: &str, item: Option<u32>) -> pb::StepRun {
        pb::StepRun {
            id: id.into(),
            r#type: kind.into(),
            status: status as i32,
            parent_id: parent.into(),
            item_index: item,
            ..Default::default()
        }
    }

    #[test]
    fn map_items_fold_into_their_parent_and_planned_steps_are_marked() {
        let mut steps = vec![
            step("fan", "map", StepStatus::Running, "", None),
            step("plan", "planner", StepStatus::Completed, "", None),
            step("extra", "agent", StepStatus::Pending, "plan", None),
        ];
        for i in 0..5 {
            let status = if i < 2 { StepStatus::Completed } else { StepStatus::Running };
            let mut item = step(&format!("fan[{i}]"), "agent", status, "fan", Some(i));
            item.cost = Some(pb::Money { amount: 3, currency: "usd".into() });
            steps.push(item);
        }
        let run = pb::Run { steps, ..Default::default() };
        let rows = rows(&run, SystemTime::now());
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[0].progress, Some((2, 5)));
        assert!(line(&rows[0], 10, false).contains("$0.15"), "the items' costs add up on the map's line");
        assert!(rows[2].planned && rows[2].depth == 1);
        let text = line(&rows[2], name_width(&rows), false);
        assert!(text.starts_with("·") && text.contains("pending") && text.contains("(planned)"), "{text}");
    }

    #[test]
    fn every_terminal_status_has_its_exit_code() {
        assert_eq!(outcome(RunStatus::Completed), Some(0));
        assert_eq!(outcome(RunStatus::Failed), Some(1));
        assert_eq!(outcome(RunStatus::Partial), Some(2));
        assert_eq!(outcome(RunStatus::Cancelled), Some(3));
        assert_eq!(outcome(RunStatus::Running), None);
    }
}
