//! Drawing the view: on a terminal, one indicatif line per step (a bar
//! with `done/total` for map and loop steps) redrawn in place; elsewhere,
//! a plain line each time a step's line changes, so a log or a pipe gets
//! the story without control codes.

use std::collections::HashMap;
use std::time::SystemTime;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use weft_sdk::pb::{self, RunStatus};

use super::view::{Row, line, name_width, rows, run_status_word};
use crate::output::money;

/// A view of a run on the output.
pub enum Renderer {
    /// Redrawn in place on a terminal.
    Live(Live),
    /// Appended lines.
    Plain(Plain),
}

impl Renderer {
    /// The renderer for a terminal (`live`) or anything else.
    pub fn new(live: bool) -> Self {
        if live { Self::Live(Live::new()) } else { Self::Plain(Plain::default()) }
    }

    /// Shows `run` as it is now.
    pub fn update(&mut self, run: &pb::Run) {
        match self {
            Self::Live(live) => live.update(run),
            Self::Plain(plain) => plain.update(run),
        }
    }

    /// Leaves the last frame on screen; what follows prints below it.
    pub fn finish(&mut self) {
        match self {
            Self::Live(live) => live.finish(),
            Self::Plain(_) => {}
        }
    }
}

/// The run's header: id, status, cost so far, and what a paused run waits for.
fn header(run: &pb::Run) -> String {
    let status = RunStatus::try_from(run.status).unwrap_or(RunStatus::Unspecified);
    let cost = run.cost.as_ref().map(|c| money(&serde_json::json!({"amount": c.amount, "currency": c.currency})));
    let mut text =
        format!("run {} ({} v{}) {}", run.id, run.workflow_id, run.workflow_version, run_status_word(status));
    if let Some(cost) = cost {
        text.push_str(&format!(" {cost}"));
    }
    if let Some(pending) = &run.pending_action {
        text.push_str(&format!(" — waiting for {} at '{}'", pending.r#type, pending.step));
        if !pending.approval_id.is_empty() {
            text.push_str(&format!(" ({})", pending.approval_id));
        }
    }
    text
}

/// The in-place view.
pub struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    bars: Vec<(String, ProgressBar)>,
}

impl Live {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new(0).with_style(plain_style()));
        Self { multi, header, bars: Vec::new() }
    }

    fn update(&mut self, run: &pb::Run) {
        self.header.set_message(header(run));
        let rows = rows(run, SystemTime::now());
        // Steps appear as the run goes (planner splices, parallel
        // children): rebuild the bars when the set of rows changed.
        let same = rows.len() == self.bars.len() && rows.iter().zip(&self.bars).all(|(row, (id, _))| &row.id == id);
        if !same {
            for (_, bar) in self.bars.drain(..) {
                self.multi.remove(&bar);
            }
            for row in &rows {
                let bar = self.multi.add(ProgressBar::new(0).with_style(plain_style()));
                self.bars.push((row.id.clone(), bar));
            }
        }
        let width = name_width(&rows);
        for (row, (_, bar)) in rows.iter().zip(&self.bars) {
            if let Some((done, total)) = row.progress {
                bar.set_style(bar_style());
                bar.set_length(total);
                bar.set_position(done);
            }
            bar.set_message(line(row, width, true));
        }
    }

    fn finish(&mut self) {
        for (_, bar) in &self.bars {
            bar.finish();
        }
        self.header.finish();
    }
}

fn plain_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").expect("a valid template")
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg} [{bar:20.cyan/blue}] {pos}/{len}")
        .expect("a valid template")
        .progress_chars("=> ")
}

/// The appended-lines view: remembers the last line of each step.
#[derive(Default)]
pub struct Plain {
    printed: HashMap<String, String>,
    last_header: String,
}

impl Plain {
    fn update(&mut self, run: &pb::Run) {
        let head = header(run);
        // The cost moves with every step; a header line per status change is enough.
        let status_part = head.split(" $").next().unwrap_or(&head).to_string();
        if status_part != self.last_header {
            println!("{head}");
            self.last_header = status_part;
        }
        let rows = rows(run, SystemTime::now());
        let width = name_width(&rows);
        for row in &rows {
            let text = plain_line(row, width);
            if self.printed.get(&row.id) != Some(&text) {
                println!("{text}");
                self.printed.insert(row.id.clone(), text);
            }
        }
    }
}

/// A row for the plain view: durations of running steps would print a
/// line every second, so only finished steps show theirs.
fn plain_line(row: &Row, width: usize) -> String {
    let mut row = row.clone();
    if matches!(row.status, weft_sdk::pb::StepStatus::Running | weft_sdk::pb::StepStatus::Waiting) {
        row.seconds = None;
    }
    let mut text = line(&row, width, false);
    if let Some((done, total)) = row.progress {
        text.push_str(&format!(" {done}/{total}"));
    }
    text.trim_end().to_string()
}
