//! What the process tells its operator besides serving: the format of its
//! log lines (top-level `log_format`) and the `[telemetry]` section, where
//! OTLP trace export is turned on (`otlp_endpoint`).

use serde::Deserialize;

use super::ConfigError;

/// Longest accepted `otlp_endpoint`: an address, not a document.
const MAX_ENDPOINT_LEN: usize = 2048;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, span fields such as `run_id` at the top.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected text or json".to_owned()),
        }
    }
}

/// Trace export (`[telemetry]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector the server's spans are exported to, an
    /// `http://` or `https://` URL (e.g. `http://127.0.0.1:4317`). Unset:
    /// no exporter. Env `OTEL_EXPORTER_OTLP_ENDPOINT` (the OpenTelemetry
    /// name, so a standard deployment needs no Weft-specific variable).
    pub otlp_endpoint: Option<String>,
}

impl TelemetrySettings {
    /// Applies `OTEL_EXPORTER_OTLP_ENDPOINT`; an empty value turns export
    /// off, as the OpenTelemetry specification reads it.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let value = value.trim();
            self.otlp_endpoint = (!value.is_empty()).then(|| value.to_owned());
        }
        Ok(())
    }

    /// Checks the endpoint is a bounded http(s) URL with a host.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let Some(endpoint) = &self.otlp_endpoint else { return Ok(()) };
        let invalid =
            |reason: &str| Err(ConfigError::Invalid { name: "telemetry.otlp_endpoint", reason: reason.into() });
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return invalid("must be at most 2048 characters");
        }
        let rest = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://"));
        let Some(rest) = rest else {
            return invalid("must be an http:// or https:// URL, e.g. http://127.0.0.1:4317");
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("must name a host, e.g. http://127.0.0.1:4317");
        }
        if endpoint.parse::<http::Uri>().is_err() {
            return invalid("is not a valid URL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: &str) -> TelemetrySettings {
        TelemetrySettings { otlp_endpoint: Some(endpoint.to_owned()) }
    }

    #[test]
    fn endpoints_must_be_bounded_http_urls_with_a_host() {
        assert!(TelemetrySettings::default().validate().is_ok());
        for good in ["http://127.0.0.1:4317", "https://collector.example:4317/", "http://[::1]:4317"] {
            assert!(with(good).validate().is_ok(), "{good}");
        }
        let long = format!("http://{}.example", "a".repeat(MAX_ENDPOINT_LEN));
        for bad in ["127.0.0.1:4317", "grpc://collector:4317", "http://", "http:///path", "http://a b", long.as_str()] {
            let err = with(bad).validate().unwrap_err().to_string();
            assert!(err.contains("telemetry.otlp_endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn log_format_parses_text_and_json_only() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("JSONL".parse::<LogFormat>().is_err());
        assert_eq!(LogFormat::default(), LogFormat::Text);
    }

    #[test]
    fn empty_env_endpoint_turns_export_off() {
        let mut settings = with("http://127.0.0.1:4317");
        settings.apply_env(&|name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(String::new)).unwrap();
        assert_eq!(settings.otlp_endpoint, None);
    }
}
