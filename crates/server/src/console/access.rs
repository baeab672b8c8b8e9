//! Who may use the console's API endpoint: the one place that decides.
//!
//! Today the server has no accounts (the SQS API takes any credentials), so the console's only
//! job is to keep *other web sites* from driving it through a visitor's browser (CSRF). A
//! request to `POST /console/api` passes when
//! - it is not cross-site: `Sec-Fetch-Site`, when the browser sends it, is `same-origin`, and
//!   `Origin`, when sent, is this server's own origin (as the request reached it: `Host`, or a
//!   proxy's `X-Forwarded-Host`/`-Proto`, or `--public-url`);
//! - it carries the console token in `X-Redrive-Console-Token`, compared in constant time. The
//!   token is random per process and only delivered inside the console page, which other origins
//!   cannot read (console responses never carry CORS headers).
//!
//! A later issue adds logins: `check` then also identifies the caller (a session cookie), and
//! what it returns becomes the principal the handlers act as. Nothing else needs to change.

use hyper::header::{HeaderMap, HeaderValue, ORIGIN};
use subtle::ConstantTimeEq;

pub const TOKEN_HEADER: &str = "x-redrive-console-token";

/// Why a console API request was refused (said to the caller, never logged with the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    CrossSite,
    BadToken,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::CrossSite => "The console API only answers pages of this server's own origin.",
            Denied::BadToken => "The console token is missing or wrong; reload the console page.",
        }
    }
}

/// The caller a passed check acts as. One kind today; logins add others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Anyone who can open the console page: the server has no accounts yet.
    Anonymous,
}

/// A secret nobody can guess: two v4 UUIDs, 244 random bits from the OS-seeded CSPRNG, as 64
/// hex digits (the console token, a session's id).
pub fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

pub struct Access {
    token: String,
}

impl Default for Access {
    fn default() -> Self {
        Access::new()
    }
}

impl Access {
    /// A fresh random token (`random_token`).
    pub fn new() -> Access {
        Access { token: random_token() }
    }

    /// The token the console page carries.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Decide a console API request. `own_origin` is `scheme://host[:port]` as the caller
    /// reached this server.
    pub fn check(&self, headers: &HeaderMap, own_origin: &str) -> Result<Principal, Denied> {
        let header = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        if header("sec-fetch-site").is_some_and(|site| site != "same-origin") {
            return Err(Denied::CrossSite);
        }
        if let Some(origin) = header(ORIGIN.as_str()) {
            if !origin.eq_ignore_ascii_case(own_origin.trim_end_matches('/')) {
                return Err(Denied::CrossSite);
            }
        }
        let given = headers.get(TOKEN_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if bool::from(given.ct_eq(self.token.as_bytes())) {
            Ok(Principal::Anonymous)
        } else {
            Err(Denied::BadToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_same_origin_request_with_the_token_passes() {
        let a = Access::new();
        let h = headers(&[
            ("origin", "http://127.0.0.1:9324"),
            ("sec-fetch-site", "same-origin"),
            (TOKEN_HEADER, a.token()),
        ]);
        assert_eq!(a.check(&h, "http://127.0.0.1:9324"), Ok(Principal::Anonymous));
        // A tool that is not a browser sends neither header; the token is still required.
        assert_eq!(a.check(&headers(&[(TOKEN_HEADER, a.token())]), "http://127.0.0.1:9324"), Ok(Principal::Anonymous));
    }

    #[test]
    fn another_site_is_refused_even_with_the_token() {
        let a = Access::new();
        let other = headers(&[("origin", "http://evil.test"), (TOKEN_HEADER, a.token())]);
        assert_eq!(a.check(&other, "http://127.0.0.1:9324"), Err(Denied::CrossSite));
        let cross = headers(&[("sec-fetch-site", "cross-site"), (TOKEN_HEADER, a.token())]);
        assert_eq!(a.check(&cross, "http://127.0.0.1:9324"), Err(Denied::CrossSite));
        let same_site = headers(&[("sec-fetch-site", "same-site"), (TOKEN_HEADER, a.token())]);
        assert_eq!(a.check(&same_site, "http://127.0.0.1:9324"), Err(Denied::CrossSite));
    }

    #[test]
    fn a_missing_or_wrong_token_is_refused() {
        let a = Access::new();
        let own = "http://127.0.0.1:9324";
        assert_eq!(a.check(&headers(&[("origin", own)]), own), Err(Denied::BadToken));
        let wrong = headers(&[("origin", own), (TOKEN_HEADER, "0123")]);
        assert_eq!(a.check(&wrong, own), Err(Denied::BadToken));
        assert_ne!(Access::new().token(), a.token(), "each process has its own token");
    }
}
