//! Who a request is from. Without a credentials file every request is the server's one account
//! (any signature, or none, is taken as it comes). With one (`--credentials`), every API
//! request must carry a valid AWS Signature Version 4 by a key of the file, and is its
//! account's: checked here, before the request is decoded, and refused in AWS's words.

pub mod credentials;
pub mod sigv4;

use engine::{Caller, Millis};
use hyper::http::request::Parts;
use protocol::{ApiError, ErrorCode};

pub use credentials::Credentials;
use sigv4::{Claim, KeyCache, Refusal, Signed};

/// The service name a signature must be scoped to.
const SERVICE: &str = "sqs";

pub struct Auth {
    credentials: Credentials,
    region: String,
    keys: KeyCache,
}

impl Auth {
    pub fn new(credentials: Credentials, region: &str) -> Auth {
        Auth { credentials, region: region.to_string(), keys: KeyCache::default() }
    }

    /// The caller a signed request is from, or AWS's refusal.
    pub fn verify(&self, parts: &Parts, body: &[u8], now: Millis) -> Result<Caller, ApiError> {
        self.check(parts, body, now).map_err(|r| refusal(&r, now))
    }

    fn check(&self, parts: &Parts, body: &[u8], now: Millis) -> Result<Caller, Refusal> {
        let claim = sigv4::claim(&parts.headers, parts.uri.query())?;
        let key = self.credentials.get(&claim.access_key).ok_or(Refusal::UnknownKey)?;
        self.in_scope(&claim)?;
        in_time(&claim, now)?;
        let request = Signed {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body,
        };
        let string_to_sign = sigv4::string_to_sign(&claim, &sigv4::canonical_request(&request, &claim));
        if !sigv4::signature_holds(&self.keys.key(&claim, key.secret()), &string_to_sign, &claim.signature) {
            return Err(Refusal::Mismatch);
        }
        Ok(Caller::new(key.account.clone(), Some(key.principal.clone())))
    }

    /// The caller an access key and its secret sign in as (the console's sign-in); `None` if
    /// the key is unknown or the secret wrong (compared in constant time).
    pub fn sign_in(&self, access_key: &str, secret: &str) -> Option<Caller> {
        use subtle::ConstantTimeEq;
        let key = self.credentials.get(access_key)?;
        bool::from(secret.as_bytes().ct_eq(key.secret().as_bytes()))
            .then(|| Caller::new(key.account.clone(), Some(key.principal.clone())))
    }

    fn in_scope(&self, claim: &Claim) -> Result<(), Refusal> {
        if claim.service != SERVICE {
            return Err(Refusal::WrongScope(format!("Credential should be scoped to correct service: '{SERVICE}'.")));
        }
        if claim.region != self.region {
            return Err(Refusal::WrongScope(format!(
                "Credential should be scoped to a valid region, not '{}'. This server's region is '{}'.",
                claim.region, self.region
            )));
        }
        if !claim.amz_date.starts_with(&claim.date) {
            return Err(Refusal::WrongScope(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                claim.date,
                claim.amz_date.get(..8).unwrap_or("")
            )));
        }
        Ok(())
    }
}

/// A request signed within 15 minutes of the server's clock; a presigned URL not past its
/// expiry.
fn in_time(claim: &Claim, now: Millis) -> Result<(), Refusal> {
    let at = sigv4::parse_amz_date(&claim.amz_date)
        .ok_or_else(|| Refusal::Malformed(format!("X-Amz-Date {:?} is not YYYYMMDDTHHMMSSZ", claim.amz_date)))?;
    if at > now + sigv4::MAX_SKEW_MS {
        return Err(Refusal::Expired(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            claim.amz_date,
            amz_date(now + sigv4::MAX_SKEW_MS),
            amz_date(now)
        )));
    }
    match claim.expires {
        Some(seconds) if at + seconds * 1000 < now => {
            Err(Refusal::Expired(format!("Request has expired: it was valid until {}.", amz_date(at + seconds * 1000))))
        }
        Some(_) => Ok(()),
        None if at + sigv4::MAX_SKEW_MS < now => Err(Refusal::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            claim.amz_date,
            amz_date(now - sigv4::MAX_SKEW_MS),
            amz_date(now)
        ))),
        None => Ok(()),
    }
}

fn amz_date(ms: Millis) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// AWS's code and words for each refusal.
fn refusal(r: &Refusal, _now: Millis) -> ApiError {
    match r {
        Refusal::Missing => ApiError::new(
            ErrorCode::AccessDenied,
            "The request is not signed: this server takes only requests signed (AWS Signature Version 4) with a key of its credentials file.",
        ),
        Refusal::UnknownKey => {
            ApiError::new(ErrorCode::InvalidClientTokenId, "The security token included in the request is invalid.")
        }
        Refusal::Malformed(why) => ApiError::new(ErrorCode::IncompleteSignature, format!("{why}.")),
        Refusal::WrongScope(why) | Refusal::Expired(why) => {
            ApiError::new(ErrorCode::SignatureDoesNotMatch, why.clone())
        }
        Refusal::Mismatch => ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
    }
}
