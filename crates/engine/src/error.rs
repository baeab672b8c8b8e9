//! What can go wrong, in SQS's terms. `Display` is the message AWS sends, except for the
//! few errors that decoding a request raises too (marked): AWS's words for those are in
//! the protocol crate's error table, once. The server maps each variant to its AWS error
//! code in one place (server/src/errors.rs).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Worded by the protocol's table.
    #[error("no such queue")]
    QueueDoesNotExist,
    /// No such queue in the account a GetQueueUrl named (QueueOwnerAWSAccountId): the same
    /// code, and words that say where queues are, since the usual cause is a client that
    /// took a URL's first path segment for the account (a Symfony DSN written for
    /// ElasticMQ, `sqs://host/queue/NAME`, asks for account `queue`).
    #[error(
        "The specified queue {name} does not exist in account {account} (QueueOwnerAWSAccountId). \
         This server's queues are in account {own_account}: name that account or none \
         (a Symfony Messenger DSN reads sqs://HOST/{own_account}/{name})."
    )]
    QueueNotInAccount { name: String, account: String, own_account: String },
    /// The queue exists, but its policy (or its account) does not let the caller do this.
    #[error("Access to the resource {0} is denied.")]
    AccessDenied(String),
    #[error("{0}")]
    QueueAlreadyExists(String),
    #[error("You must wait 60 seconds after deleting a queue before you can create another with the same name.")]
    QueueDeletedRecently,
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Worded by the protocol's table.
    #[error("missing parameter {0}")]
    MissingParameter(String),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    /// Worded by the protocol's table.
    #[error("characters SQS does not allow in a message")]
    InvalidMessageContents,
    #[error("There should be at least one {0} in the request.")]
    EmptyBatchRequest(&'static str),
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error("A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")]
    InvalidBatchEntryId,
    #[error("Batch requests cannot be longer than {limit} bytes. You have sent {sent} bytes.")]
    BatchRequestTooLong { limit: usize, sent: usize },
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    Internal(String),
    /// The store could not make a change durable; nothing was acknowledged.
    #[error("{0}")]
    ServiceUnavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// AWS's wording for a request parameter outside its range.
    pub fn invalid_parameter(value: impl std::fmt::Display, name: &str, reason: &str) -> Error {
        Error::InvalidParameterValue(format!("Value {value} for parameter {name} is invalid. Reason: {reason}"))
    }
}
