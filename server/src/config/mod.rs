//! Server configuration, read once and typed, in layers: built-in defaults,
//! then a TOML file, then `WEFT_*` environment variables, then command-line
//! flags. Each layer overrides only what it sets.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

mod auth;
mod http;
mod limits;
mod notify;
mod runs;
mod schedules;
mod secrets;
mod tasks;
mod telemetry;

pub use auth::AuthSettings;
pub use http::HttpSettings;
pub use limits::LimitSettings;
pub use notify::NotifySettings;
pub use runs::RunSettings;
pub use schedules::ScheduleSettings;
pub use secrets::SecretSettings;
pub use tasks::TaskSettings;
pub use telemetry::{LogFormat, TelemetrySettings};

/// Everything `weft serve` can be told.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to serve gRPC, gRPC-web and REST on. Default
    /// `127.0.0.1:7070`; env `WEFT_LISTEN`.
    pub listen: SocketAddr,
    /// Store location: `sqlite:weft.db`, `sqlite:///abs/path.db`, a bare
    /// file path, or `postgres://user@host:port/database` (migrated on
    /// start, in the connection's schema). Default `sqlite:weft.db` in the
    /// working directory; env `WEFT_DATABASE_URL`.
    pub database_url: String,
    /// Largest request message accepted, in bytes; larger ones get
    /// RESOURCE_EXHAUSTED. Default 4 MiB; env `WEFT_MAX_MESSAGE_BYTES`.
    pub max_message_bytes: usize,
    /// Tracing filter, `RUST_LOG` syntax. Default `info`; env `WEFT_LOG`.
    pub log: String,
    /// How log lines are written: `text` (default) or `json`, one object
    /// per line; env `WEFT_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Length of a worker's task lease, in milliseconds; a heartbeat extends
    /// it by as much. Default 60000; env `WEFT_TASK_LEASE_MS`.
    pub task_lease_ms: u64,
    /// Outbound HTTP of webhook and http_request steps (`[outbound]`).
    pub outbound: OutboundSettings,
    /// Webhook signatures and callbacks (`[webhook]`).
    pub webhook: WebhookSettings,
    /// Script steps (`[script]`).
    pub script: ScriptSettings,
    /// Several replicas on one Postgres database (`[cluster]`).
    pub cluster: ClusterSettings,
    /// What is kept of runs (`[runs]`).
    pub runs: RunSettings,
    /// API keys and anonymous access (`[auth]`).
    pub auth: AuthSettings,
    /// What browsers may do: CORS origins and Host names (`[http]`).
    pub http: HttpSettings,
    /// Per-tenant admission limits (`[limits]`).
    pub limits: LimitSettings,
    /// Secrets steps may reference (`[secrets]`).
    pub secrets: SecretSettings,
    /// Notification webhooks (`[notifications]`).
    pub notifications: NotifySettings,
    /// Cron schedules (`[schedules]`).
    pub schedules: ScheduleSettings,
    /// When a queued worker task counts as unclaimed (`[tasks]`).
    pub tasks: TaskSettings,
    /// OTLP trace export (`[telemetry]`).
    pub telemetry: TelemetrySettings,
}

/// How replicas sharing a Postgres database divide the runs. SQLite has
/// one replica and ignores these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// How long a replica holds its partitions without renewing them, ms;
    /// a replica that dies (or stalls) this long has its runs and timers
    /// taken over. Renewed every third of it. Default 10000; env
    /// `WEFT_PARTITION_LEASE_MS`.
    pub partition_lease_ms: u64,
    /// Whether replicas wake each other with LISTEN/NOTIFY. Polling runs
    /// either way, so with it off everything still happens, only later.
    /// Default true; env `WEFT_NOTIFY`.
    pub notify: bool,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self { partition_lease_ms: 10_000, notify: true }
    }
}

/// Limits of outbound HTTP requests.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Networks (CIDR) requests may reach although the SSRF rules forbid
    /// them (loopback, private, link-local, …). Default none; env
    /// `WEFT_OUTBOUND_ALLOW`, comma-separated.
    pub allow_networks: Vec<String>,
    /// Whole-request timeout, ms. Default 30000; env `WEFT_OUTBOUND_TIMEOUT_MS`.
    pub request_timeout_ms: u64,
    /// Largest response body read, bytes; larger fails the attempt.
    /// Default 1 MiB (an output is capped at 1 MiB anyway).
    pub max_response_bytes: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self { allow_networks: Vec::new(), request_timeout_ms: 30_000, max_response_bytes: 1024 * 1024 }
    }
}

/// How webhooks are signed and called back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The HMAC-SHA256 key of `Weft-Signature` headers, both ways. When
    /// unset, one is generated on first start and kept in the database.
    /// Env `WEFT_WEBHOOK_SECRET`.
    pub secret: Option<String>,
    /// Base URL receivers reach this server at, for callback URLs. Default
    /// `http://<listen address>`; env `WEFT_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// How long a webhook waits for its callback when the step sets no
    /// `timeout`, ms. Default 1 h.
    pub callback_timeout_ms: Option<u64>,
}

/// Whether and how script steps run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptSettings {
    /// Off by default: a script runs arbitrary code on this host. Env
    /// `WEFT_SCRIPT_ENABLED=true`.
    pub enabled: bool,
    /// Interpreters scripts may use (`shell` runs `sh`, `python` runs
    /// `python3`). Default `["sh", "python3"]`.
    pub interpreters: Vec<String>,
    /// Wall-clock limit of one run, ms, when the step sets no `timeout`.
    /// Default 60000.
    pub timeout_ms: u64,
    /// Address-space limit of the interpreter, MiB. Default 1024.
    pub memory_limit_mb: u64,
    /// Most bytes kept of stdout and of stderr each. Default 1 MiB.
    pub max_output_bytes: usize,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            interpreters: vec!["sh".into(), "python3".into()],
            timeout_ms: 60_000,
            memory_limit_mb: 1024,
            max_output_bytes: 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            database_url: "sqlite:weft.db".into(),
            max_message_bytes: 4 * 1024 * 1024,
            log: "info".into(),
            log_format: LogFormat::default(),
            task_lease_ms: 60_000,
            outbound: OutboundSettings::default(),
            webhook: WebhookSettings::default(),
            script: ScriptSettings::default(),
            cluster: ClusterSettings::default(),
            runs: RunSettings::default(),
            auth: AuthSettings::default(),
            http: HttpSettings::default(),
            limits: LimitSettings::default(),
            secrets: SecretSettings::default(),
            notifications: NotifySettings::default(),
            schedules: ScheduleSettings::default(),
            tasks: TaskSettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--require-auth` (only ever turns it on).
    pub require_auth: bool,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is malformed or has unknown keys.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// An environment variable has a malformed value.
    #[error("invalid environment variable {name}={value}: {reason}")]
    Env {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// Setting name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The variable `name` parsed as a `T`, if set; a value that does not
/// parse is an error naming the variable.
pub(crate) fn env_parsed<T>(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    env(name)
        .map(|value| value.parse().map_err(|e: T::Err| ConfigError::Env { name, reason: e.to_string(), value }))
        .transpose()
}

/// The variable `name` as a flag (`true`/`1`, `false`/`0`), if set.
pub(crate) fn env_flag(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<bool>, ConfigError> {
    env(name)
        .map(|value| match value.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(ConfigError::Env { name, value, reason: "expected true or false".to_owned() }),
        })
        .transpose()
}

impl Config {
    /// Loads the layers: defaults, `file` (if given), the environment as
    /// read by `env`, then `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: shown, source: Box::new(source) })?
            }
            None => Config::default(),
        };
        if let Some(listen) = env_parsed(&env, "WEFT_LISTEN")? {
            config.listen = listen;
        }
        if let Some(value) = env("WEFT_DATABASE_URL") {
            config.database_url = value;
        }
        if let Some(bytes) = env_parsed(&env, "WEFT_MAX_MESSAGE_BYTES")? {
            config.max_message_bytes = bytes;
        }
        if let Some(ms) = env_parsed(&env, "WEFT_TASK_LEASE_MS")? {
            config.task_lease_ms = ms;
        }
        if let Some(value) = env("WEFT_OUTBOUND_ALLOW") {
            config.outbound.allow_networks =
                value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        if let Some(ms) = env_parsed(&env, "WEFT_OUTBOUND_TIMEOUT_MS")? {
            config.outbound.request_timeout_ms = ms;
        }
        if let Some(value) = env("WEFT_WEBHOOK_SECRET") {
            config.webhook.secret = Some(value);
        }
        if let Some(value) = env("WEFT_PUBLIC_URL") {
            config.webhook.public_url = Some(value);
        }
        if let Some(enabled) = env_flag(&env, "WEFT_SCRIPT_ENABLED")? {
            config.script.enabled = enabled;
        }
        if let Some(ms) = env_parsed(&env, "WEFT_PARTITION_LEASE_MS")? {
            config.cluster.partition_lease_ms = ms;
        }
        if let Some(notify) = env_flag(&env, "WEFT_NOTIFY")? {
            config.cluster.notify = notify;
        }
        if let Some(value) = env("WEFT_LOG") {
            config.log = value;
        }
        if let Some(format) = env_parsed(&env, "WEFT_LOG_FORMAT")? {
            config.log_format = format;
        }
        config.auth.apply_env(&env)?;
        config.http.apply_env(&env)?;
        config.limits.apply_env(&env)?;
        config.runs.apply_env(&env)?;
        config.secrets.apply_env(&env)?;
        config.notifications.apply_env(&env)?;
        config.schedules.apply_env(&env)?;
        config.tasks.apply_env(&env)?;
        config.telemetry.apply_env(&env)?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = overrides.database_url {
            config.database_url = url;
        }
        if overrides.require_auth {
            config.auth.required = true;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=64 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err(ConfigError::Invalid {
                name: "max_message_bytes",
                reason: "must be between 1 KiB and 64 MiB".into(),
            });
        }
        if !(100..=24 * 60 * 60 * 1000).contains(&self.task_lease_ms) {
            return Err(ConfigError::Invalid {
                name: "task_lease_ms",
                reason: "must be between 100 ms and 24 h".into(),
            });
        }
        // Renewed every third of a lease: under 300 ms a slow commit could
        // cost a healthy replica its partitions; over 10 min a dead
        // replica's runs would stall that long.
        if !(300..=10 * 60 * 1000).contains(&self.cluster.partition_lease_ms) {
            let reason = "must be between 300 ms and 10 min".into();
            return Err(ConfigError::Invalid { name: "cluster.partition_lease_ms", reason });
        }
        if let Err(reason) = crate::outbound::AllowList::parse(&self.outbound.allow_networks) {
            return Err(ConfigError::Invalid { name: "outbound.allow_networks", reason });
        }
        if !(100..=10 * 60 * 1000).contains(&self.outbound.request_timeout_ms) {
            let reason = "must be between 100 ms and 10 min".into();
            return Err(ConfigError::Invalid { name: "outbound.request_timeout_ms", reason });
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.outbound.max_response_bytes) {
            let reason = "must be between 1 KiB and 64 MiB".into();
            return Err(ConfigError::Invalid { name: "outbound.max_response_bytes", reason });
        }
        if self.webhook.secret.as_ref().is_some_and(|s| s.len() < 16) {
            let reason = "must be at least 16 characters".into();
            return Err(ConfigError::Invalid { name: "webhook.secret", reason });
        }
        if let Some(url) = &self.webhook.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            let reason = "must be an absolute http:// or https:// URL".into();
            return Err(ConfigError::Invalid { name: "webhook.public_url", reason });
        }
        if self.script.interpreters.iter().any(|i| i.trim().is_empty()) {
            return Err(ConfigError::Invalid { name: "script.interpreters", reason: "has an empty name".into() });
        }
        if self.script.timeout_ms == 0 || self.script.memory_limit_mb < 16 || self.script.max_output_bytes == 0 {
            let reason = "timeout_ms and max_output_bytes must be above 0, memory_limit_mb at least 16".into();
            return Err(ConfigError::Invalid { name: "script", reason });
        }
        if self.database_url.trim().is_empty() {
            return Err(ConfigError::Invalid { name: "database_url", reason: "must not be empty".into() });
        }
        self.auth.validate()?;
        self.http.validate()?;
        self.limits.validate()?;
        self.runs.validate()?;
        self.tasks.validate()?;
        self.secrets.validate()?;
        self.notifications.validate()?;
        self.schedules.validate()?;
        self.telemetry.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_listen_on_7070_with_weft_db() {
        let config = Config::load(None, no_env, Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7070");
        assert_eq!(config.database_url, "sqlite:weft.db");
    }

    #[test]
    fn layers_apply_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1000\"\ndatabase_url = \"sqlite:file.db\"\nlog = \"debug\"\n")
            .unwrap();
        let env = |name: &str| match name {
            "WEFT_LISTEN" => Some("127.0.0.1:2000".to_string()),
            "WEFT_DATABASE_URL" => Some("sqlite:env.db".to_string()),
            _ => None,
        };
        let flags = Overrides { listen: Some("127.0.0.1:3000".parse().unwrap()), ..Overrides::default() };
        let config = Config::load(Some(&file), env, flags).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000", "flag beats env");
        assert_eq!(config.database_url, "sqlite:env.db", "env beats file");
        assert_eq!(config.log, "debug", "file beats default");
    }

    #[test]
    fn outbound_webhook_and_script_settings_load_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(
            &file,
            "[script]\nenabled = true\ninterpreters = [\"sh\"]\n[webhook]\npublic_url = \"https://weft.example\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "WEFT_OUTBOUND_ALLOW" => Some("127.0.0.0/8, ::1/128".to_string()),
            "WEFT_WEBHOOK_SECRET" => Some("0123456789abcdef".to_string()),
            _ => None,
        };
        let config = Config::load(Some(&file), env, Overrides::default()).unwrap();
        assert_eq!(config.outbound.allow_networks, ["127.0.0.0/8", "::1/128"]);
        assert_eq!(config.webhook.secret.as_deref(), Some("0123456789abcdef"));
        assert_eq!(config.webhook.public_url.as_deref(), Some("https://weft.example"));
        assert!(config.script.enabled);
        assert_eq!(config.script.interpreters, ["sh"]);
        let bad = |name: &str| (name == "WEFT_OUTBOUND_ALLOW").then(|| "10.0.0.0/99".to_string());
        let err = Config::load(None, bad, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("outbound.allow_networks"), "{err}");
    }

    #[test]
    fn cluster_settings_load_from_file_and_env_and_bad_values_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(&file, "[cluster]\npartition_lease_ms = 3000\nnotify = false\n").unwrap();
        let config = Config::load(Some(&file), no_env, Overrides::default()).unwrap();
        assert_eq!(config.cluster, ClusterSettings { partition_lease_ms: 3000, notify: false });
        let env = |name: &str| match name {
            "WEFT_PARTITION_LEASE_MS" => Some("4500".to_string()),
            "WEFT_NOTIFY" => Some("1".to_string()),
            _ => None,
        };
        let config = Config::load(Some(&file), env, Overrides::default()).unwrap();
        assert_eq!(config.cluster, ClusterSettings { partition_lease_ms: 4500, notify: true }, "env beats file");
        for (variable, value) in [("WEFT_NOTIFY", "maybe"), ("WEFT_PARTITION_LEASE_MS", "soon")] {
            let env = |name: &str| (name == variable).then(|| value.to_string());
            match Config::load(None, env, Overrides::default()) {
                Err(ConfigError::Env { name, value: shown, .. }) => {
                    assert_eq!((name, shown.as_str()), (variable, value))
                }
                other => panic!("{variable}={value}: {other:?}"),
            }
        }
        for ms in ["50", "86400000"] {
            let env = |name: &str| (name == "WEFT_PARTITION_LEASE_MS").then(|| ms.to_string());
            let err = Config::load(None, env, Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("cluster.partition_lease_ms"), "{ms}: {err}");
        }
    }

    #[test]
    fn run_retention_loads_from_file_and_env_and_bad_values_name_the_setting() {
        assert_eq!(Config::default().runs.retention, Duration::from_secs(30 * 86_400));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(&file, "[runs]\nretention = \"12h\"\n").unwrap();
        let config = Config::load(Some(&file), no_env, Overrides::default()).unwrap();
        assert_eq!(config.runs.retention, Duration::from_secs(12 * 3600));
        let env = |name: &str| (name == "WEFT_RUN_RETENTION").then(|| "10s".to_string());
        let config = Config::load(Some(&file), env, Overrides::default()).unwrap();
        assert_eq!(config.runs.retention, Duration::from_secs(10), "env beats file");

        let env = |name: &str| (name == "WEFT_RUN_RETENTION").then(|| "soon".to_string());
        match Config::load(None, env, Overrides::default()) {
            Err(ConfigError::Env { name, value, .. }) => {
                assert_eq!((name, value.as_str()), ("WEFT_RUN_RETENTION", "soon"))
            }
            other => panic!("{other:?}"),
        }
        for value in ["0s", "500ms", "200years"] {
            let env = |name: &str| (name == "WEFT_RUN_RETENTION").then(|| value.to_string());
            let err = Config::load(None, env, Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("runs.retention"), "{value}: {err}");
        }
        std::fs::write(&file, "[runs]\nretention = \"a month\"\n").unwrap();
        let err = Config::load(Some(&file), no_env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("retention"), "{err}");
    }

    #[test]
    fn log_format_and_otlp_endpoint_load_from_file_and_env_and_bad_values_are_refused() {
        let config = Config::load(None, no_env, Overrides::default()).unwrap();
        assert_eq!((config.log_format, config.telemetry.otlp_endpoint), (LogFormat::Text, None));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(&file, "log_format = \"json\"\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:4317\"\n")
            .unwrap();
        let config = Config::load(Some(&file), no_env, Overrides::default()).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4317"));
        let env = |name: &str| match name {
            "WEFT_LOG_FORMAT" => Some("text".to_string()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("https://otel.example:4317".to_string()),
            _ => None,
        };
        let config = Config::load(Some(&file), env, Overrides::default()).unwrap();
        assert_eq!(config.log_format, LogFormat::Text, "env beats file");
        assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("https://otel.example:4317"));

        let env = |name: &str| (name == "WEFT_LOG_FORMAT").then(|| "yaml".to_string());
        match Config::load(None, env, Overrides::default()) {
            Err(ConfigError::Env { name, value, .. }) => {
                assert_eq!((name, value.as_str()), ("WEFT_LOG_FORMAT", "yaml"))
            }
            other => panic!("{other:?}"),
        }
        let env = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "localhost:4317".to_string());
        let err = Config::load(None, env, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("telemetry.otlp_endpoint"), "{err}");
        std::fs::write(&file, "log_format = \"xml\"\n").unwrap();
        assert!(matches!(Config::load(Some(&file), no_env, Overrides::default()), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn unknown_file_key_and_bad_env_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weft.toml");
        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        assert!(matches!(Config::load(Some(&file), no_env, Overrides::default()), Err(ConfigError::Parse { .. })));
        let env = |name: &str| (name == "WEFT_LISTEN").then(|| "nowhere".to_string());
        assert!(matches!(Config::load(None, env, Overrides::default()), Err(ConfigError::Env { .. })));
    }
}
