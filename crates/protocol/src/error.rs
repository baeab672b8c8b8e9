//! The one table of AWS error codes: HTTP status, JSON `__type`, Query code, fault.
//!
//! SQS speaks JSON 1.0 in "query compatible" mode: a JSON error carries the modeled
//! shape name in `__type` and the legacy Query code in the `x-amzn-query-error`
//! header, which the SDKs surface as the error code. Codes and statuses are checked
//! against recordings of real AWS: see docs/aws-reference.md.

/// Every error code Redrive can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // Modeled SQS errors (botocore sqs 2012-11-05).
    QueueDoesNotExist,
    QueueDeletedRecently,
    QueueNameExists,
    PurgeQueueInProgress,
    InvalidAttributeName,
    InvalidAttributeValue,
    ReceiptHandleIsInvalid,
    MessageNotInflight,
    InvalidIdFormat,
    TooManyEntriesInBatchRequest,
    EmptyBatchRequest,
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    InvalidBatchEntryId,
    InvalidMessageContents,
    UnsupportedOperation,
    OverLimit,
    InvalidSecurity,
    RequestThrottled,
    ResourceNotFound,
    InvalidAddress,
    // Common errors shared by AWS services.
    InvalidParameterValue,
    InvalidParameterCombination,
    MissingParameter,
    InvalidAction,
    MissingAction,
    InvalidQueryParameter,
    MalformedQueryString,
    AccessDenied,
    /// A signature by an access key the server does not know.
    InvalidClientTokenId,
    /// A signature that is not the request's, out of its time, or scoped elsewhere.
    SignatureDoesNotMatch,
    /// A signature missing one of its parts.
    IncompleteSignature,
    RequestEntityTooLarge,
    /// The request body did not arrive in time.
    RequestTimeout,
    SerializationException,
    UnknownOperation,
    InternalError,
    ServiceUnavailable,
}

/// How one code appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub status: u16,
    /// `__type` of a JSON error.
    pub json_type: &'static str,
    /// `Error/Code` of a Query error and the first half of `x-amzn-query-error`.
    pub query_code: &'static str,
    /// `Sender` (the client's fault) or `Receiver`.
    pub sender_fault: bool,
}

const fn sender(status: u16, json_type: &'static str, query_code: &'static str) -> CodeInfo {
    CodeInfo { status, json_type, query_code, sender_fault: true }
}

const fn receiver(status: u16, json_type: &'static str, query_code: &'static str) -> CodeInfo {
    CodeInfo { status, json_type, query_code, sender_fault: false }
}

impl ErrorCode {
    pub fn info(self) -> CodeInfo {
        use ErrorCode::*;
        match self {
            QueueDoesNotExist => {
                sender(400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
            }
            QueueDeletedRecently => {
                sender(400, "com.amazonaws.sqs#QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently")
            }
            QueueNameExists => sender(400, "com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists"),
            PurgeQueueInProgress => {
                sender(403, "com.amazonaws.sqs#PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress")
            }
            InvalidAttributeName => sender(400, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName"),
            InvalidAttributeValue => sender(400, "com.amazonaws.sqs#InvalidAttributeValue", "InvalidAttributeValue"),
            ReceiptHandleIsInvalid => sender(404, "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"),
            MessageNotInflight => {
                sender(400, "com.amazonaws.sqs#MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight")
            }
            InvalidIdFormat => sender(400, "com.amazonaws.sqs#InvalidIdFormat", "InvalidIdFormat"),
            TooManyEntriesInBatchRequest => sender(
                400,
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            EmptyBatchRequest => {
                sender(400, "com.amazonaws.sqs#EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest")
            }
            BatchEntryIdsNotDistinct => sender(
                400,
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ),
            BatchRequestTooLong => {
                sender(400, "com.amazonaws.sqs#BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong")
            }
            InvalidBatchEntryId => {
                sender(400, "com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId")
            }
            InvalidMessageContents => sender(400, "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents"),
            UnsupportedOperation => {
                sender(400, "com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation")
            }
            OverLimit => sender(403, "com.amazonaws.sqs#OverLimit", "OverLimit"),
            InvalidSecurity => sender(403, "com.amazonaws.sqs#InvalidSecurity", "InvalidSecurity"),
            RequestThrottled => sender(403, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled"),
            ResourceNotFound => sender(404, "com.amazonaws.sqs#ResourceNotFoundException", "ResourceNotFoundException"),
            InvalidAddress => sender(404, "com.amazonaws.sqs#InvalidAddress", "InvalidAddress"),
            InvalidParameterValue => {
                sender(400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue")
            }
            InvalidParameterCombination => {
                sender(400, "com.amazonaws.sqs#InvalidParameterCombination", "InvalidParameterCombination")
            }
            MissingParameter => {
                sender(400, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter")
            }
            InvalidAction => sender(400, "com.amazonaws.sqs#InvalidAction", "InvalidAction"),
            MissingAction => sender(400, "com.amazonaws.sqs#MissingAction", "MissingAction"),
            InvalidQueryParameter => sender(400, "com.amazonaws.sqs#InvalidQueryParameter", "InvalidQueryParameter"),
            MalformedQueryString => sender(400, "com.amazonaws.sqs#MalformedQueryString", "MalformedQueryString"),
            AccessDenied => sender(403, "com.amazon.coral.service#AccessDeniedException", "AccessDenied"),
            InvalidClientTokenId => {
                sender(403, "com.amazon.coral.service#UnrecognizedClientException", "InvalidClientTokenId")
            }
            SignatureDoesNotMatch => {
                sender(403, "com.amazon.coral.service#InvalidSignatureException", "SignatureDoesNotMatch")
            }
            IncompleteSignature => {
                sender(400, "com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature")
            }
            RequestEntityTooLarge => sender(413, "com.amazonaws.sqs#RequestEntityTooLarge", "RequestEntityTooLarge"),
            RequestTimeout => sender(408, "com.amazon.coral.service#RequestTimeoutException", "RequestTimeout"),
            SerializationException => sender(400, "com.amazon.coral.service#SerializationException", "MalformedInput"),
            UnknownOperation => sender(400, "com.amazon.coral.service#UnknownOperationException", "InvalidAction"),
            InternalError => receiver(500, "com.amazonaws.sqs#InternalError", "InternalError"),
            ServiceUnavailable => receiver(503, "com.amazonaws.sqs#ServiceUnavailable", "ServiceUnavailable"),
        }
    }
}

/// An error ready to render in either protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

// AWS's words for the errors raised both while decoding and by the engine: written here
// once, and the server renders the engine's errors of these kinds with them.
const NO_SUCH_QUEUE: &str = "The specified queue does not exist.";
/// The one message recorded to differ between the protocols: a Query caller is told this.
const NO_SUCH_QUEUE_QUERY: &str = "The specified queue does not exist for this wsdl version.";
const INVALID_CHARACTERS: &str = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

/// AWS's sentence for a parameter a request lacks (also used with InvalidParameterValue).
pub fn must_contain(parameter: &str) -> String {
    format!("The request must contain the parameter {parameter}.")
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }

    pub fn missing_parameter(name: &str) -> Self {
        ApiError::new(ErrorCode::MissingParameter, must_contain(name))
    }

    pub fn queue_does_not_exist() -> Self {
        ApiError::new(ErrorCode::QueueDoesNotExist, NO_SUCH_QUEUE)
    }

    pub fn invalid_message_contents() -> Self {
        ApiError::new(ErrorCode::InvalidMessageContents, INVALID_CHARACTERS)
    }

    /// An action name (or `X-Amz-Target`) this endpoint does not serve.
    pub fn not_valid_for_endpoint(code: ErrorCode, action: &str) -> Self {
        ApiError::new(code, format!("The action {action} is not valid for this endpoint."))
    }

    /// The message as a Query caller gets it (AWS's own sentence only: a message of the
    /// server's that says more is kept).
    pub fn query_message(&self) -> &str {
        match self.code {
            ErrorCode::QueueDoesNotExist if self.message == NO_SUCH_QUEUE => NO_SUCH_QUEUE_QUERY,
            _ => &self.message,
        }
    }

    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidParameterValue, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.info().query_code, self.message)
    }
}

impl std::error::Error for ApiError {}
