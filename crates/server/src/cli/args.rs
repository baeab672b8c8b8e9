//! The `redrive dlq …` command line, as clap parses it. What each subcommand does is in
//! `commands`; docs/cli.md is the user's page.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `redrive <command>`: today only `dlq`; no command runs the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with dead-letter queues on a Redrive server (or on SQS itself, where marked).
    Dlq(Dlq),
}

const AFTER_HELP: &str = "\
Needs a Redrive server: peek, count, export (without --receive), import, history, edit, delete,
and redrive with a filter, --canary, --halt-*, --max-redrives or --dry-run (unless --client-side).
Works against SQS itself too: list, status, cancel, redrive (plain or --client-side),
export --receive.

Exit codes: 0 done; 1 an API, network or file error; 2 a usage error; 3 a watched task ended
FAILED or CANCELLED; 4 the endpoint is not a Redrive server (for a command that needs one).
More in docs/cli.md.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP, arg_required_else_help = true)]
pub struct Dlq {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The server: a Redrive, or SQS itself (https://sqs.REGION.amazonaws.com).
    #[arg(long, global = true, env = "REDRIVE_ENDPOINT", default_value = "http://127.0.0.1:9324", value_name = "URL")]
    pub endpoint_url: String,
    /// The region to sign for (default: AWS_REGION, the profile's, the endpoint's, or us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// The AWS profile whose credentials to use (default: AWS_PROFILE, else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print JSON (the API's own shapes) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The dead-letter queues: every queue a RedrivePolicy names, its depth and its sources.
    List,
    /// Show a queue's messages without receiving them [Redrive].
    Peek {
        queue: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Show at most this many messages.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
    },
    /// Count the messages a filter takes, changing nothing [Redrive].
    Count {
        queue: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write a queue's messages as JSON Lines, one message a line (stdout by default)
    /// [Redrive, or SQS itself with --receive].
    Export {
        queue: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// The file to write (created or replaced).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Plain SQS instead of the extension: receive every message (holding it for
        /// --hold seconds), then release it at once (visibility 0). Counts a receive on each
        /// message; filters apply on this side.
        #[arg(long)]
        receive: bool,
        /// With --receive: seconds each message stays hidden while the export runs.
        #[arg(long, default_value_t = 60, value_name = "SECS", requires = "receive")]
        hold: i32,
    },
    /// Put exported messages (JSON Lines) into a queue, 100 a call [Redrive].
    Import {
        queue: String,
        /// The JSON Lines file (stdin by default, or `-`).
        file: Option<PathBuf>,
    },
    /// Move a dead-letter queue's messages back (to their sources, or --to a queue).
    Redrive(RedriveArgs),
    /// The latest move tasks of a dead-letter queue (--watch follows the newest to its end).
    Status {
        dlq: String,
        /// Show this many of the newest tasks.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
        max: u32,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Cancel a running move task: the DLQ's running one, or the task with this handle.
    Cancel {
        /// A dead-letter queue (name, URL or ARN) or a task handle.
        target: String,
    },
    /// The redrive history, newest first: every task, with its settings and outcome [Redrive].
    History {
        /// Only this dead-letter queue's tasks.
        dlq: Option<String>,
        /// Show at most this many tasks.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
    },
    /// Fix a message where it is: a new body, attributes set or removed [Redrive].
    Edit {
        queue: String,
        message_id: String,
        /// The new body.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// The new body from a file (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Set a message attribute (kept: the others): NAME=VALUE (a String), or
        /// NAME:TYPE=VALUE with TYPE String, Number or Binary (VALUE base64). Repeatable.
        #[arg(long = "attribute", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        /// Remove a message attribute. Repeatable.
        #[arg(long = "remove-attribute", value_name = "NAME")]
        remove_attributes: Vec<String>,
    },
    /// Delete the messages a filter takes (e.g. --message-id ID …); a filter is required [Redrive].
    Delete {
        queue: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The dead-letter queue (name, URL or ARN).
    pub dlq: String,
    /// Where to move them (default: each message's own source queue).
    #[arg(long, value_name = "QUEUE")]
    pub to: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many messages a second (1–500).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=500))]
    pub rate: Option<i32>,
    /// Move N messages first, and go on only once consumers have deleted all of them [Redrive].
    #[arg(long, value_name = "N")]
    pub canary: Option<u32>,
    /// Seconds the canary may take before the task fails (default 300) [Redrive].
    #[arg(long, value_name = "SECS", requires = "canary")]
    pub canary_timeout: Option<u64>,
    /// Stop when more than P % of the moved messages come back to the DLQ [Redrive].
    #[arg(long, value_name = "P")]
    pub halt_percent: Option<u32>,
    /// Stop when more than K of the moved messages come back to the DLQ [Redrive].
    #[arg(long, value_name = "K")]
    pub halt_count: Option<u64>,
    /// Seconds to keep watching for returns after the last move (default 300) [Redrive].
    #[arg(long, value_name = "SECS")]
    pub halt_window: Option<u64>,
    /// Leave messages already redriven N times in the DLQ (default: the server's) [Redrive].
    #[arg(long, value_name = "N")]
    pub max_redrives: Option<u32>,
    /// Move nothing: say how many would move, and show the first ones [Redrive, or --client-side].
    #[arg(long)]
    pub dry_run: bool,
    /// Plain SQS instead of a move task: receive each message, filter it here, send it to
    /// its destination, delete it. Works against SQS itself; counts a receive on every
    /// message it looks at, and is not atomic (a failure between the send and the delete
    /// leaves a copy in both queues).
    #[arg(long, conflicts_with_all = ["canary", "halt_percent", "halt_count", "halt_window", "max_redrives", "watch"])]
    pub client_side: bool,
    /// With --client-side: seconds a message it looks at stays hidden from others.
    #[arg(long, default_value_t = 60, value_name = "SECS", requires = "client_side")]
    pub hold: i32,
    #[command(flatten)]
    pub watch: WatchArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Follow the task until it ends (a progress bar on a terminal); exit 3 if it ends FAILED
    /// or CANCELLED.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between two looks at a watched task.
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = positive_seconds)]
    pub interval: f64,
}

/// What a message must have (all of them, AND). `--source` takes a queue name, URL or ARN.
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    /// Dead-lettered from this queue (name, URL or ARN).
    #[arg(long, value_name = "QUEUE")]
    pub source: Option<String>,
    /// The body contains this text (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub body_contains: Option<String>,
    /// A message attribute: NAME=VALUE (equal), or NAME (present). Repeatable.
    #[arg(long = "attribute", value_name = "NAME[=VALUE]")]
    pub attributes: Vec<String>,
    /// A value in a JSON body: /json/pointer=VALUE, VALUE as JSON (42, true, "x"); a VALUE that
    /// is not JSON is taken as a string. Repeatable.
    #[arg(long = "json-path", value_name = "/PTR=VALUE")]
    pub json_paths: Vec<String>,
    /// Sent at or after this time (RFC 3339, or epoch milliseconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub sent_after: Option<u64>,
    /// Sent before this time (RFC 3339, or epoch milliseconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub sent_before: Option<u64>,
    /// Dead-lettered at or after this time (RFC 3339, or epoch milliseconds) [Redrive].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub dead_lettered_after: Option<u64>,
    /// Dead-lettered before this time (RFC 3339, or epoch milliseconds) [Redrive].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub dead_lettered_before: Option<u64>,
    /// This message (repeatable: any of these).
    #[arg(long = "message-id", value_name = "ID")]
    pub message_ids: Vec<String>,
}

impl FilterArgs {
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.body_contains.is_none()
            && self.attributes.is_empty()
            && self.json_paths.is_empty()
            && self.sent_after.is_none()
            && self.sent_before.is_none()
            && self.dead_lettered_after.is_none()
            && self.dead_lettered_before.is_none()
            && self.message_ids.is_empty()
    }
}

/// A time as RFC 3339 (`2026-12-07T14:00:00Z`) or epoch milliseconds, as epoch milliseconds.
pub fn parse_time(text: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map_err(|e| format!("{text}: {e}"));
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{text:?} is neither RFC 3339 (2026-12-07T14:00:00Z) nor epoch milliseconds: {e}"))?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{text} is before 1970"))
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err(format!("{text} is not a number of seconds between 0 and 3600")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_or_epoch_milliseconds() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20.5+01:00"), Ok(1_700_000_000_500));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1969-12-31T00:00:00Z").is_err());
        assert!(parse_time("99999999999999999999999").is_err());
    }
}
