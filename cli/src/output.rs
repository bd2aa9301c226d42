//! Printing answers: the REST JSON of a message, the same as YAML, or a
//! table for people. Table is the default on a terminal, JSON otherwise, so
//! scripts piping `weft` get a stable machine format without asking.

use std::io::{IsTerminal, Write};

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

use crate::args::Format;

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// The format chosen, or defaulted from whether stdout is a terminal.
    pub format: Format,
    /// Whether stdout is a terminal (colours, live views).
    pub tty: bool,
    /// Whether `-o` was given explicitly.
    pub explicit: bool,
}

impl Out {
    /// The format asked for, or the default for this stdout.
    pub fn new(requested: Option<Format>) -> Self {
        let tty = std::io::stdout().is_terminal();
        let format = requested.unwrap_or(if tty { Format::Table } else { Format::Json });
        Self { format, tty, explicit: requested.is_some() }
    }

    /// Prints `json` in the chosen format; `table` builds the table view.
    pub fn show<T: std::fmt::Display>(&self, json: &Value, table: impl FnOnce(&Value) -> T) {
        let text = match self.format {
            Format::Json => serde_json::to_string_pretty(json).expect("a Value always serializes"),
            Format::Yaml => serde_norway::to_string(json).expect("a Value always serializes").trim_end().to_string(),
            Format::Table => table(json).to_string(),
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`weft … | head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{text}");
    }
}

/// Says on stderr that a list answer holds only its first page, so a
/// table or a script is not silently cut short.
pub fn note_more(next_page_token: &str, shown: usize, total: u32) {
    if !next_page_token.is_empty() {
        eprintln!("(showing the first {shown} of {total}; narrow the list with its filters)");
    }
}

/// An empty table in the house style.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY);
    table.set_header(headers.iter().copied());
    table
}

/// One row per item of a list answer, one column per `(header, field)`.
/// The list is the answer itself when its REST route unwraps it, else
/// the answer's field `key`.
pub fn list_table(json: &Value, key: &str, columns: &[(&str, &str)]) -> Table {
    let items = if json.is_array() { json } else { &json[key] };
    let headers: Vec<&str> = columns.iter().map(|(header, _)| *header).collect();
    let mut out = table(&headers);
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        out.add_row(columns.iter().map(|(_, field)| cell(&item[*field])));
    }
    out
}

/// A field/value table of an object's top-level fields.
pub fn details_table(object: &Value) -> Table {
    let mut out = table(&["FIELD", "VALUE"]);
    if let Value::Object(fields) = object {
        for (key, value) in fields {
            out.add_row([key.clone(), cell(value)]);
        }
    }
    out
}

/// A value in one table cell: strings bare, money as money, long or
/// nested values shortened.
pub fn cell(value: &Value) -> String {
    const MAX: usize = 60;
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        Value::Array(items) => format!("{} items", items.len()),
        Value::Object(fields) if fields.contains_key("amount") || fields.contains_key("currency") => money(value),
        other => other.to_string(),
    };
    if text.chars().count() > MAX { format!("{}…", text.chars().take(MAX - 1).collect::<String>()) } else { text }
}

/// A `Money` JSON (`{"amount": 123, "currency": "usd"}`) as `$1.23` or `1.23 eur`.
pub fn money(value: &Value) -> String {
    let cents = value["amount"].as_i64().unwrap_or(0);
    let currency = value["currency"].as_str().filter(|c| !c.is_empty()).unwrap_or("usd");
    let amount = format!("{}.{:02}", cents / 100, (cents % 100).abs());
    if currency == "usd" { format!("${amount}") } else { format!("{amount} {currency}") }
}

/// Whole seconds as `42s`, `3m05s` or `2h01m`.
pub fn seconds(total: u64) -> String {
    match total {
        0..60 => format!("{total}s"),
        60..3600 => format!("{}m{:02}s", total / 60, total % 60),
        _ => format!("{}h{:02}m", total / 3600, (total % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_and_durations_read_as_people_write_them() {
        assert_eq!(money(&json!({"amount": 1234, "currency": "usd"})), "$12.34");
        assert_eq!(money(&json!({"amount": 5, "currency": "eur"})), "0.05 eur");
        assert_eq!(money(&json!({})), "$0.00");
        assert_eq!(seconds(5), "5s");
        assert_eq!(seconds(185), "3m05s");
        assert_eq!(seconds(7260), "2h01m");
    }
}
