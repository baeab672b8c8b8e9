//! What a `redrive dlq` command fails with, and the exit code scripts test for each
//! (docs/cli.md).

use std::fmt;
use std::process::ExitCode;

#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error (`code`: its AWS error code).
    Api { code: String, message: String },
    /// No answer: the endpoint cannot be reached, or the answer cannot be read.
    Transport(String),
    /// A file or stdin/stdout failed, or an input line is not what it must be.
    Input(String),
    /// The command line asks for something that cannot be done (clap's own errors exit 2 too).
    Usage(String),
    /// The endpoint answered, but not as Redrive: the extension API is not there.
    NotRedrive { operation: String, endpoint: String },
    /// A watched task ended, but not COMPLETED.
    TaskEnded { status: String, reason: Option<String> },
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Api { .. } | CliError::Transport(_) | CliError::Input(_) => 1,
            CliError::Usage(_) => 2,
            CliError::TaskEnded { .. } => 3,
            CliError::NotRedrive { .. } => 4,
        })
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    pub fn input(message: impl Into<String>) -> CliError {
        CliError::Input(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api { code, message } => write!(f, "{code}: {message}"),
            CliError::Transport(m) | CliError::Input(m) | CliError::Usage(m) => f.write_str(m),
            CliError::NotRedrive { operation, endpoint } => write!(
                f,
                "{endpoint} is not a Redrive server: it does not know Redrive_v1.{operation}, which this \
                 command needs (see `redrive dlq --help` for what works against SQS itself)"
            ),
            CliError::TaskEnded { status, reason } => match reason {
                Some(r) => write!(f, "the task ended {status}: {r}"),
                None => write!(f, "the task ended {status}"),
            },
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Input(e.to_string())
    }
}

/// An SQS SDK call's failure, with the service's code and message when there is one.
impl<E, R> From<aws_sdk_sqs::error::SdkError<E, R>> for CliError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    fn from(e: aws_sdk_sqs::error::SdkError<E, R>) -> Self {
        use aws_sdk_sqs::error::SdkError;
        match &e {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = match err.code().unwrap_or("Unknown") {
                    // The SQS Query API's name for it, which the SDK reports; the JSON one reads better.
                    "AWS.SimpleQueueService.NonExistentQueue" => "QueueDoesNotExist",
                    code => code,
                };
                CliError::Api { code: code.to_string(), message: err.message().unwrap_or("(no message)").to_string() }
            }
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
                CliError::Transport(format!("cannot reach the server: {}", error_chain(&e)))
            }
            SdkError::TimeoutError(_) => CliError::Transport(format!("cannot reach the server: {}", error_chain(&e))),
            _ => CliError::Transport(error_chain(&e)),
        }
    }
}

/// An error and its sources, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
