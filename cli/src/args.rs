//! The command line of the client commands, as clap types. The `weft`
//! binary flattens [`Global`] into its top level and [`Command`] beside
//! `serve` and `keys`.

use clap::{Args, Subcommand, ValueEnum};

/// Where the server is, how to authenticate, and how to print.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The server's URL.
    #[arg(long, global = true, env = "WEFT_URL", default_value = "http://127.0.0.1:7070", value_name = "URL")]
    pub server: String,
    /// An API key, sent as `authorization: Bearer <key>`.
    #[arg(long, global = true, env = "WEFT_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<Format>,
}

/// How answers are printed.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The REST API's JSON (proto3 JSON, camelCase).
    Json,
    /// The same document as YAML.
    Yaml,
    /// A table for people.
    Table,
}

/// The client commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Workflows: apply definitions, list, inspect, version, roll back.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Runs: start, follow, list, cancel, retry, pause, resume.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Approvals waiting for a person.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// The cost a run of a workflow would have, before starting it.
    Estimate {
        /// Workflow id or name.
        workflow: String,
        /// The run's input: JSON text, or @file (JSON or YAML).
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
        /// Estimate this version instead of the latest.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Cron schedules that start runs.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Workflow templates: list, inspect, install as a workflow.
    #[command(subcommand)]
    Templates(TemplatesCommand),
}

/// `weft workflows …`
#[derive(Subcommand, Debug)]
pub enum WorkflowsCommand {
    /// Create the workflow named in the file, or make it a new version when
    /// it changed; an unchanged definition writes nothing.
    Apply {
        /// The definition: a Workflow as JSON (.json) or YAML (.yaml, .yml).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: std::path::PathBuf,
        /// Why it changed, kept with the version.
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// List workflows.
    List {
        /// Only workflows with this status (draft, active, paused, archived).
        #[arg(long)]
        status: Option<String>,
        /// Only workflows with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Show a workflow.
    Get {
        /// Workflow id or name.
        workflow: String,
        /// Show this version instead of the latest.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Check a definition without storing it: every problem, by step; exit 1 when any.
    Validate {
        /// The definition, JSON or YAML.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// List a workflow's versions.
    Versions {
        /// Workflow id or name.
        workflow: String,
    },
    /// The JSON Patch from one version to another, coloured.
    Diff {
        /// Workflow id or name.
        workflow: String,
        /// The older version.
        v1: u32,
        /// The newer version.
        v2: u32,
    },
    /// Make an old version's definition the latest (a new version).
    Rollback {
        /// Workflow id or name.
        workflow: String,
        /// The version to restore.
        version: u32,
    },
    /// Delete a workflow.
    Delete {
        /// Workflow id or name.
        workflow: String,
    },
}

/// `weft runs …`
#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Start a run.
    Start {
        /// Workflow id or name.
        workflow: String,
        /// The run's input: JSON text, or @file (JSON or YAML).
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
        /// A retried start with the same key returns the first run.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Run this version instead of the latest.
        #[arg(long)]
        version: Option<u32>,
        /// Follow the run live until it ends (as `runs watch`).
        #[arg(long)]
        watch: bool,
    },
    /// Follow a run live until it ends; exit 0 completed, 1 failed, 2 partial, 3 cancelled.
    Watch {
        /// The run's id.
        run: String,
    },
    /// List runs, newest first.
    List {
        /// Only runs of this workflow (id or name).
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs with this status (pending, queued, running, paused,
        /// completed, failed, partial, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a run with its steps.
    Get {
        /// The run's id.
        run: String,
    },
    /// Cancel a run.
    Cancel {
        /// The run's id.
        run: String,
        /// Why, kept with the run.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Retry a failed or partial run from a step, as a new run.
    Retry {
        /// The run's id.
        run: String,
        /// The step to start again from (default: the run's canRetryFrom).
        #[arg(long = "from", value_name = "STEP")]
        from: Option<String>,
    },
    /// Pause a running run.
    Pause {
        /// The run's id.
        run: String,
        /// Why, kept with the run.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resume a paused run (manual pause, a wait step's event, a confirmation).
    Resume {
        /// The run's id.
        run: String,
        /// The event a waiting step expects.
        #[arg(long)]
        event: Option<String>,
        /// The event's payload or the answer: JSON text, or @file.
        #[arg(long, value_name = "JSON|@FILE")]
        payload: Option<String>,
    },
}

/// `weft approvals …`
#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List approvals (pending ones by default).
    List {
        /// pending, approved, denied, expired, escalated, or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only approvals of this run.
        #[arg(long)]
        run: Option<String>,
    },
    /// Approve.
    Approve {
        /// The approval's id (appr_…).
        id: String,
        /// A note kept with the decision.
        #[arg(long, default_value = "")]
        comment: String,
        /// One of the approval's options, when it offers several.
        #[arg(long)]
        option: Option<String>,
    },
    /// Deny.
    Deny {
        /// The approval's id (appr_…).
        id: String,
        /// A note kept with the decision.
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// `weft schedules …`
#[derive(Subcommand, Debug)]
pub enum SchedulesCommand {
    /// List a workflow's schedules.
    List {
        /// Workflow id or name (the server lists schedules per workflow).
        workflow: String,
    },
    /// Show a schedule and its next fire times.
    Get {
        /// The schedule's id.
        id: String,
    },
    /// Create a schedule.
    Create {
        /// Workflow id or name.
        workflow: String,
        /// Cron expression, e.g. "0 9 * * 1-5".
        #[arg(long)]
        cron: String,
        /// IANA time zone of the expression (default UTC).
        #[arg(long, default_value = "")]
        timezone: String,
        /// Input of each run: JSON text, or @file.
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
    },
    /// Stop a schedule firing until resumed.
    Pause {
        /// The schedule's id.
        id: String,
    },
    /// Let a paused schedule fire again.
    Resume {
        /// The schedule's id.
        id: String,
    },
    /// Delete a schedule.
    Delete {
        /// The schedule's id.
        id: String,
    },
}

/// `weft templates …`
#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// List templates.
    List {
        /// Only templates of this category.
        #[arg(long)]
        category: Option<String>,
    },
    /// Show a template.
    Get {
        /// The template's id.
        id: String,
    },
    /// Create a workflow from a template.
    Install {
        /// The template's id.
        id: String,
        /// The new workflow's name (default: the template's).
        #[arg(long)]
        name: Option<String>,
    },
    /// Make a template from a workflow.
    Create {
        /// Workflow id or name.
        workflow: String,
        /// The template's name.
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A category to list it under.
        #[arg(long, default_value = "")]
        category: String,
    },
    /// Delete a user template.
    Delete {
        /// The template's id.
        id: String,
    },
}
