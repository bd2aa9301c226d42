//! Server configuration, read once and typed, in layers: built-in defaults,
//! then a TOML file, then `WEFT_*` environment variables, then command-line
//! flags. Each layer overrides only what it sets.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Everything `weft serve` can be told.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to serve gRPC, gRPC-web and REST on. Default
    /// `127.0.0.1:7070`; env `WEFT_LISTEN`.
    pub listen: SocketAddr,
    /// Store location: `sqlite:weft.db`, `sqlite:///abs/path.db`, or a bare
    /// file path. Default `sqlite:weft.db` in the working directory; env
    /// `WEFT_DATABASE_URL`.
    pub database_url: String,
    /// Largest request message accepted, in bytes; larger ones get
    /// RESOURCE_EXHAUSTED. Default 4 MiB; env `WEFT_MAX_MESSAGE_BYTES`.
    pub max_message_bytes: usize,
    /// Tracing filter, `RUST_LOG` syntax. Default `info`; env `WEFT_LOG`.
    pub log: String,
    /// Length of a worker's task lease, in milliseconds; a heartbeat extends
    /// it by as much. Default 60000; env `WEFT_TASK_LEASE_MS`.
    pub task_lease_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            database_url: "sqlite:weft.db".into(),
            max_message_bytes: 4 * 1024 * 1024,
            log: "info".into(),
            task_lease_ms: 60_000,
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
        if let Some(value) = env("WEFT_LISTEN") {
            config.listen = value.parse().map_err(|e: std::net::AddrParseError| ConfigError::Env {
                name: "WEFT_LISTEN",
                value: value.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(value) = env("WEFT_DATABASE_URL") {
            config.database_url = value;
        }
        if let Some(value) = env("WEFT_MAX_MESSAGE_BYTES") {
            config.max_message_bytes = value.parse().map_err(|e: std::num::ParseIntError| ConfigError::Env {
                name: "WEFT_MAX_MESSAGE_BYTES",
                value: value.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(value) = env("WEFT_TASK_LEASE_MS") {
            config.task_lease_ms = value.parse().map_err(|e: std::num::ParseIntError| ConfigError::Env {
                name: "WEFT_TASK_LEASE_MS",
                value: value.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(value) = env("WEFT_LOG") {
            config.log = value;
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = overrides.database_url {
            config.database_url = url;
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
        if self.database_url.trim().is_empty() {
            return Err(ConfigError::Invalid { name: "database_url", reason: "must not be empty".into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        let flags = Overrides { listen: Some("127.0.0.1:3000".parse().unwrap()), database_url: None };
        let config = Config::load(Some(&file), env, flags).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000", "flag beats env");
        assert_eq!(config.database_url, "sqlite:env.db", "env beats file");
        assert_eq!(config.log, "debug", "file beats default");
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
