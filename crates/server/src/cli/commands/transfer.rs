//! `export` (a queue's messages as JSON Lines) and `import` (those lines put into a queue).
//! One line is one message in ExportMessages' shape; `import` sends them back 100 a call
//! (or fewer, to stay under the server's request size).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::cli::args::FilterArgs;
use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::filter::Filter;
use crate::cli::output;
use crate::cli::queue::QueueRef;
use crate::cli::receive::{as_exported, Pass};

/// ExportMessages' largest page, and ImportMessages' largest call.
const EXPORT_PAGE: u64 = 1000;
const IMPORT_CALL: usize = 100;
/// Lines a call carries at most, in bytes: the server takes request bodies up to 5 MiB
/// (`http::MAX_BODY`), and 100 messages of 256 KiB would not fit.
const CALL_BYTES: usize = 4 * 1024 * 1024;

pub async fn export(
    c: &Clients,
    queue: &str,
    args: &FilterArgs,
    path: Option<&Path>,
    receive: Option<i32>,
) -> Result<(), CliError> {
    let queue = QueueRef::parse(queue)?;
    let url = queue.url(c).await?;
    let filter = Filter::from_args(args, c).await?;
    if receive.is_some() {
        filter.check_client_side()?;
    }
    let to_stdout = is_std(path);
    let mut sink: Box<dyn Write> = match path {
        Some(p) if !to_stdout => Box::new(BufWriter::new(
            File::create(p).map_err(|e| CliError::input(format!("cannot create {}: {e}", p.display())))?,
        )),
        _ => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut written = 0u64;
    {
        let mut write = |m: &Value| -> Result<(), CliError> {
            writeln!(sink, "{m}").map_err(|e| CliError::input(format!("cannot write the export: {e}")))?;
            written += 1;
            Ok(())
        };
        match receive {
            None => {
                let mut token: Option<String> = None;
                loop {
                    let mut input = json!({ "QueueUrl": url, "MaxResults": EXPORT_PAGE, "Filter": filter.api });
                    if let Some(t) = &token {
                        input["NextToken"] = json!(t);
                    }
                    let page = c.extension.call("ExportMessages", &input).await?;
                    for m in page["Messages"].as_array().into_iter().flatten() {
                        write(m)?;
                    }
                    token = page.get("NextToken").and_then(Value::as_str).map(str::to_string);
                    if token.is_none() {
                        break;
                    }
                }
            }
            Some(hold) => {
                let mut pass = Pass::new(c, &url, hold);
                let mut failed = None;
                loop {
                    let batch = match pass.next().await {
                        Ok(Some(batch)) => batch,
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    };
                    for m in &batch {
                        pass.keep(m);
                        let line = as_exported(m);
                        if failed.is_none() && filter.matches(&line) {
                            failed = write(&line).err();
                        }
                    }
                    if failed.is_some() {
                        break;
                    }
                }
                pass.release().await?;
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
    }
    sink.flush().map_err(|e| CliError::input(format!("cannot write the export: {e}")))?;
    let whither = path.filter(|_| !to_stdout).map_or("stdout".into(), |p| p.display().to_string());
    let how = if receive.is_some() { " (each received once, then released)" } else { "" };
    eprintln_quiet(&format!(
        "Exported {} from {} to {whither}{how}.",
        output::count(written, "message"),
        queue.display_name()
    ));
    Ok(())
}

pub async fn import(c: &Clients, queue: &str, path: Option<&Path>) -> Result<(), CliError> {
    let queue = QueueRef::parse(queue)?;
    let file = path.filter(|_| !is_std(path));
    let open = |p: &Path| File::open(p).map_err(|e| CliError::input(format!("cannot open {}: {e}", p.display())));
    // A file is read twice: a bad line refuses the import before anything is sent.
    if let Some(p) = file {
        for line in numbered_lines(BufReader::new(open(p)?)) {
            line?;
        }
    }
    let url = queue.url(c).await?;
    let reader: Box<dyn BufRead> = match file {
        Some(p) => Box::new(BufReader::new(open(p)?)),
        None => Box::new(BufReader::new(std::io::stdin().lock())),
    };
    let mut imported = 0u64;
    let mut batch: Vec<(usize, Value)> = Vec::with_capacity(IMPORT_CALL);
    let mut bytes = 0;
    for line in numbered_lines(reader) {
        let (n, message, len) = line.map_err(|e| after(imported, e))?;
        if !batch.is_empty() && (batch.len() == IMPORT_CALL || bytes + len > CALL_BYTES) {
            imported += send(c, &url, &batch).await.map_err(|e| after(imported, e))?;
            batch.clear();
            bytes = 0;
        }
        batch.push((n, message));
        bytes += len;
    }
    if !batch.is_empty() {
        imported += send(c, &url, &batch).await.map_err(|e| after(imported, e))?;
    }
    if c.json {
        return output::json(&json!({ "Imported": imported }));
    }
    output::line(&format!("Imported {} into {}.", output::count(imported, "message"), queue.display_name()))
}

/// One ImportMessages call; a refused message is named by its line.
async fn send(c: &Clients, url: &str, batch: &[(usize, Value)]) -> Result<u64, CliError> {
    let messages: Vec<&Value> = batch.iter().map(|(_, m)| m).collect();
    match c.extension.call("ImportMessages", &json!({ "QueueUrl": url, "Messages": messages })).await {
        Ok(out) => Ok(out["Imported"].as_u64().unwrap_or(messages.len() as u64)),
        Err(CliError::Api { code, message }) => {
            // "Messages[3]: …" names the message in this call.
            let index = message
                .strip_prefix("Messages[")
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(n, _)| n.parse::<usize>().ok());
            match index.and_then(|i| batch.get(i)) {
                Some((line, _)) => Err(CliError::Api { code, message: format!("line {line}: {message}") }),
                None => Err(CliError::Api { code, message }),
            }
        }
        Err(e) => Err(e),
    }
}

/// What was imported before a failure, said with it (each call is all or nothing).
fn after(imported: u64, e: CliError) -> CliError {
    let note = format!(" ({imported} messages imported before it; that call imported none)");
    match e {
        CliError::Api { code, message } => CliError::Api { code, message: message + &note },
        CliError::Input(m) => CliError::Input(m + &note),
        other => other,
    }
}

/// The non-blank lines of a JSON Lines input as (line number, message, length), each checked
/// to be an export's line: a JSON object with a string `Body`.
fn numbered_lines(reader: impl BufRead) -> impl Iterator<Item = Result<(usize, Value, usize), CliError>> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let n = i + 1;
        let text = match line {
            Ok(t) => t,
            Err(e) => return Some(Err(CliError::input(format!("line {n}: cannot be read: {e}")))),
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("Body").is_some_and(Value::is_string) => Ok((n, v, text.len())),
            Ok(_) => Err(CliError::input(format!("line {n}: not an exported message (a JSON object with a Body)"))),
            Err(e) => Err(CliError::input(format!("line {n}: not JSON: {e}"))),
        })
    })
}

/// A note on stderr; a closed stderr is no error.
fn eprintln_quiet(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// No file, or `-`: stdin or stdout.
fn is_std(path: Option<&Path>) -> bool {
    !matches!(path, Some(p) if p.as_os_str() != "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named_by_its_number_and_blank_lines_are_skipped() {
        let input = "{\"Body\":\"a\"}\n\n{\"Body\":\"b\"}\nnot json\n[1]\n";
        let lines: Vec<_> = numbered_lines(input.as_bytes()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].as_ref().unwrap().0, 3);
        assert!(lines[2].as_ref().unwrap_err().to_string().starts_with("line 4: not JSON"));
        assert!(lines[3].as_ref().unwrap_err().to_string().starts_with("line 5: not an exported message"));
    }
}
