//! Console sign-in, for a server with a credentials file: a session per sign-in, named by a
//! random id in an HttpOnly, SameSite=Strict cookie (Secure when the server serves TLS), kept
//! in memory (a restart signs everyone out) and ended by signing out or after 12 hours.

use std::collections::HashMap;

use engine::{Caller, Millis};
use hyper::header::{HeaderMap, COOKIE};
use parking_lot::Mutex;

pub const COOKIE_NAME: &str = "redrive_session";
/// How long a session lasts.
pub const LIFETIME_MS: Millis = 12 * 3600 * 1000;
/// Sessions kept at most: past it, the oldest are ended.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    caller: Caller,
    ends_at: Millis,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `caller`; its id, for the cookie.
    pub fn start(&self, caller: Caller, now: Millis) -> String {
        let id = super::access::random_token();
        let mut live = self.live.lock();
        live.retain(|_, s| s.ends_at > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, s)| s.ends_at).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), Session { caller, ends_at: now + LIFETIME_MS });
        id
    }

    /// The caller of the session a request's cookie names, if it is live.
    pub fn caller(&self, headers: &HeaderMap, now: Millis) -> Option<Caller> {
        let id = cookie(headers)?;
        let live = self.live.lock();
        live.get(id).filter(|s| s.ends_at > now).map(|s| s.caller.clone())
    }

    /// End the session a request's cookie names.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.live.lock().remove(id);
        }
    }
}

/// The session id in a request's `Cookie` header.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that carries a session (or, with `None`, ends it).
pub fn set_cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE_NAME}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME_MS / 1000
        ),
        None => format!("{COOKIE_NAME}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends_or_is_signed_out() {
        let sessions = Sessions::default();
        let id = sessions.start(Caller::new("111111111111", Some("AIDA1".into())), 1_000);
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&format!("other=1; {COOKIE_NAME}={id}")).unwrap());
        assert_eq!(sessions.caller(&h, 2_000).map(|c| c.account), Some("111111111111".into()));
        assert!(sessions.caller(&h, 1_000 + LIFETIME_MS).is_none(), "over after 12 hours");
        sessions.end(&h);
        assert!(sessions.caller(&h, 2_000).is_none(), "signed out");
        let mut forged = HeaderMap::new();
        forged.insert(COOKIE, HeaderValue::from_static("redrive_session=0123"));
        assert!(sessions.caller(&forged, 2_000).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_and_secure_over_tls() {
        let c = set_cookie(Some("abc"), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(!set_cookie(Some("abc"), false).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
    }
}
