//! How results reach the user: aligned tables and short lines for people, the API's JSON for
//! scripts (`--json`), and a progress bar on a terminal while a task runs. A closed stdout
//! (`… | head`) ends the output quietly rather than panicking.

use std::io::{IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;

use super::error::CliError;

/// Prints `value` as indented JSON.
pub fn json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::input(e.to_string()))?;
    line(&text)
}

/// Prints one line to stdout.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| CliError::input(format!("cannot write to stdout: {e}"))),
    }
}

/// A table with a header row and no borders, columns two spaces apart.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Result<(), CliError> {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    // The preset pads each cell by one on either side; the lines' ends need none.
    let text = t.to_string();
    let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    line(&lines.join("\n"))
}

/// `label: value` lines, labels aligned.
pub fn fields(pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:<width$}  {v}", k = format!("{k}:"))).collect();
    line(&text.join("\n"))
}

/// Epoch milliseconds as `2026-12-07T14:06:36Z` (UTC, to the second); `-` for none.
pub fn time(ms: Option<u64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64) else { return ms.to_string() };
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| ms.to_string())
}

/// A millisecond field of a JSON object, given as a number or a string of digits.
pub fn ms_of(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// `text` on one line, cut to `max` characters with an ellipsis.
pub fn short(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The last part of an ARN or URL: a queue's name.
pub fn queue_name(arn_or_url: &str) -> String {
    arn_or_url.rsplit([':', '/']).next().unwrap_or(arn_or_url).to_string()
}

/// `1 message`, `2 messages`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A string field, or `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} moved  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        Progress(Some(bar))
    }

    pub fn update(&self, moved: u64, to_move: u64, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_length(to_move.max(moved));
            bar.set_position(moved);
            bar.set_message(message);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_texts_read_well_in_a_table() {
        assert_eq!(time(Some(1_700_000_000_123)), "2023-11-14T22:13:20Z");
        assert_eq!(time(None), "-");
        assert_eq!(short("a\nb", 10), "a b");
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(queue_name("arn:aws:sqs:us-east-1:1:orders-dlq"), "orders-dlq");
        assert_eq!(queue_name("http://h:1/000000000000/orders"), "orders");
    }
}
