//! Reading what the user hands in: definition files and `--input` values
//! (JSON text or `@file`), JSON or YAML, each held to the server's message
//! limit before it is parsed, so a huge file fails here, clearly, instead
//! of being read whole and refused by the server.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::errors::{CliError, CliResult};

/// The server's default gRPC message limit (`max_message_bytes`): nothing
/// larger could be sent anyway.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// The text of `path`, refused above [`MAX_INPUT_BYTES`].
pub fn read_bounded(path: &Path) -> CliResult<String> {
    let file =
        std::fs::File::open(path).map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    // Read one byte past the limit: enough to know it is too large.
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::input(format!(
            "{} is larger than {} MiB, the server's message limit",
            path.display(),
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    String::from_utf8(bytes).map_err(|_| CliError::input(format!("{} is not UTF-8 text", path.display())))
}

/// A JSON or YAML document: YAML when the name ends in .yaml/.yml, JSON
/// otherwise (YAML is a superset, but JSON's errors are clearer for JSON).
pub fn read_document(path: &Path) -> CliResult<Value> {
    let text = read_bounded(path)?;
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if yaml {
        serde_norway::from_str(&text).map_err(|e| CliError::input(format!("{} is not valid YAML: {e}", path.display())))
    } else {
        serde_json::from_str(&text).map_err(|e| CliError::input(format!("{} is not valid JSON: {e}", path.display())))
    }
}

/// An `--input`-style argument: `@file` reads the file, anything else is
/// JSON text.
pub fn read_value(argument: &str, flag: &str) -> CliResult<Value> {
    if let Some(path) = argument.strip_prefix('@') {
        return read_document(Path::new(path));
    }
    if argument.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::input(format!("{flag} is larger than the server's 4 MiB message limit")));
    }
    serde_json::from_str(argument)
        .map_err(|e| CliError::input(format!("{flag} is not valid JSON ({e}); pass JSON text or @file")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_before_parsing() {
        let dir = std::env::temp_dir().join(format!("weft-cli-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.json");
        std::fs::write(&path, vec![b' '; (MAX_INPUT_BYTES + 10) as usize]).unwrap();
        let error = read_document(&path).unwrap_err().to_string();
        assert!(error.contains("4 MiB"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inline_json_and_bad_json() {
        assert_eq!(read_value(r#"{"a":1}"#, "--input").unwrap()["a"], 1);
        let error = read_value("{nope", "--input").unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--input"));
    }
}
