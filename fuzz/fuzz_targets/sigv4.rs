//! SigV4's parsing (crates/server/src/auth/sigv4.rs, compiled here as it is): lines of the
//! Authorization header, X-Amz-Date, the query string, the path, then `name: value` headers.
//! Reading the claim never panics; for a claim that reads, the canonical request, string to
//! sign and signing key are computed, and a signature made with that key holds.
#![no_main]
#![allow(dead_code)]

#[path = "../../crates/server/src/auth/sigv4.rs"]
mod sigv4;

use hmac::{Hmac, KeyInit, Mac};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let (authorization, amz_date, query, path) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    };
    if !authorization.is_empty() {
        add("authorization", authorization);
    }
    if !amz_date.is_empty() {
        add("x-amz-date", amz_date);
    }
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            add(name.trim(), value.trim());
        }
    }
    let Ok(claim) = sigv4::claim(&headers, Some(query)) else { return };
    let _ = sigv4::parse_amz_date(&claim.amz_date);
    let signed = sigv4::Signed { method: "POST", path, query: Some(query), headers: &headers, body: data };
    let canonical = sigv4::canonical_request(&signed, &claim);
    let to_sign = sigv4::string_to_sign(&claim, &canonical);
    let key = sigv4::KeyCache::default().key(&claim, "secret");
    assert_eq!(key, sigv4::signing_key("secret", &claim.date, &claim.region, &claim.service));
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    assert!(sigv4::signature_holds(&key, &to_sign, &signature));
    let _ = sigv4::signature_holds(&key, &to_sign, &claim.signature);
});
