//! The one mapping from engine errors to AWS error codes.

use engine::Error;
use protocol::{ApiError, ErrorCode};

pub fn to_api(e: &Error) -> ApiError {
    use ErrorCode as C;
    let code = match e {
        // Decoding raises these too: AWS's words for them are in the protocol's table.
        Error::QueueDoesNotExist => return ApiError::queue_does_not_exist(),
        Error::InvalidMessageContents => return ApiError::invalid_message_contents(),
        Error::MissingParameter(name) => return ApiError::missing_parameter(name),
        Error::QueueNotInAccount { .. } => C::QueueDoesNotExist,
        Error::AccessDenied(_) => C::AccessDenied,
        Error::QueueAlreadyExists(_) => C::QueueNameExists,
        Error::QueueDeletedRecently => C::QueueDeletedRecently,
        Error::InvalidAttributeName(_) => C::InvalidAttributeName,
        Error::InvalidAttributeValue(_) => C::InvalidAttributeValue,
        Error::InvalidParameterValue(_) => C::InvalidParameterValue,
        Error::ReceiptHandleIsInvalid(_) => C::ReceiptHandleIsInvalid,
        Error::PurgeQueueInProgress(_) => C::PurgeQueueInProgress,
        Error::EmptyBatchRequest(_) => C::EmptyBatchRequest,
        Error::TooManyEntriesInBatchRequest(_) => C::TooManyEntriesInBatchRequest,
        Error::BatchEntryIdsNotDistinct(_) => C::BatchEntryIdsNotDistinct,
        Error::InvalidBatchEntryId => C::InvalidBatchEntryId,
        Error::BatchRequestTooLong { .. } => C::BatchRequestTooLong,
        Error::OverLimit(_) => C::OverLimit,
        Error::ResourceNotFound(_) => C::ResourceNotFound,
        Error::Internal(_) => C::InternalError,
        Error::ServiceUnavailable(_) => C::ServiceUnavailable,
    };
    ApiError::new(code, e.to_string())
}

impl From<Error> for crate::dispatch::Failure {
    fn from(e: Error) -> Self {
        crate::dispatch::Failure(to_api(&e))
    }
}
