//! Checking an AWS Signature Version 4 (docs: "Create a signed AWS API request"): the
//! signature a request carries — in its `Authorization` header, or in a presigned URL's query —
//! is computed again over the request as it arrived (method, path, query, the headers it says it
//! signed, the hash of its body) with the secret of the key it names, and compared in constant
//! time. The HMAC and hash are the `hmac` and `sha2` crates'; this module holds only SigV4's
//! canonical forms.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use hyper::header::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the server's, as on AWS.
pub const MAX_SKEW_MS: u64 = 15 * 60 * 1000;
/// Longest a presigned URL may be valid (seven days, as on AWS).
const MAX_EXPIRES_S: u64 = 7 * 24 * 3600;
/// Signing keys kept (per key, day, region, service) before the cache starts again.
const MAX_CACHED_KEYS: usize = 1024;

/// RFC 3986's unreserved characters stay; everything else is %XX (SigV4's UriEncode).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// The signature part of a request: what it claims, to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub access_key: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, as the request lists them.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// `YYYYMMDDTHHMMSSZ`: the request's time.
    pub amz_date: String,
    /// `KEY/DATE/REGION/SERVICE/aws4_request` as given: what a signing key is for.
    pub credential: String,
    /// A presigned URL's lifetime in seconds (`None`: an Authorization header).
    pub expires: Option<u64>,
}

/// Why a request's signature does not hold. Mapped to AWS's codes in `auth::mod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No signature at all.
    Missing,
    /// A signature whose form is not SigV4's.
    Malformed(String),
    /// A key the server does not know.
    UnknownKey,
    /// Signed for another region or service, or a scope that does not match the date.
    WrongScope(String),
    /// Outside the allowed time: too old, in the future, or an expired presigned URL.
    Expired(String),
    /// The signature is not the request's.
    Mismatch,
}

/// What the request says of its signature, if anything: the Authorization header, else a
/// presigned query.
pub fn claim(headers: &HeaderMap, query: Option<&str>) -> Result<Claim, Refusal> {
    if let Some(value) = headers.get(hyper::header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| Refusal::Malformed("Authorization is not text".into()))?;
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Refusal::Malformed("the request has no X-Amz-Date header".into()))?;
        return from_header(text, amz_date);
    }
    let pairs = query_pairs(query.unwrap_or(""));
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match get("X-Amz-Signature") {
        None => Err(Refusal::Missing),
        Some(signature) => {
            if get("X-Amz-Algorithm") != Some(ALGORITHM) {
                return Err(Refusal::Malformed(format!("X-Amz-Algorithm must be {ALGORITHM}")));
            }
            let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
            let amz_date = get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?;
            let expires = get("X-Amz-Expires")
                .and_then(|e| e.parse::<u64>().ok())
                .filter(|e| *e <= MAX_EXPIRES_S)
                .ok_or_else(|| Refusal::Malformed(format!("X-Amz-Expires must be 0 to {MAX_EXPIRES_S} seconds")))?;
            let signed = get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
            let mut claim = scoped(credential, signed, signature, amz_date)?;
            claim.expires = Some(expires);
            Ok(claim)
        }
    }
}

fn missing(what: &str) -> Refusal {
    Refusal::Malformed(format!("the presigned URL has no {what}"))
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn from_header(text: &str, amz_date: &str) -> Result<Claim, Refusal> {
    let rest = text
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| Refusal::Malformed(format!("Authorization must start with {ALGORITHM}")))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or_else(|| Refusal::Malformed(part.trim().into()))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    fn need<'t>(v: Option<&'t str>, name: &str) -> Result<&'t str, Refusal> {
        v.ok_or_else(|| Refusal::Malformed(format!("Authorization has no {name}")))
    }
    scoped(need(credential, "Credential")?, need(signed, "SignedHeaders")?, need(signature, "Signature")?, amz_date)
}

/// A claim from its parts: `KEY/DATE/REGION/SERVICE/aws4_request`, `a;b;c`, the hex signature.
fn scoped(credential: &str, signed: &str, signature: &str, amz_date: &str) -> Result<Claim, Refusal> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = parts[..] else {
        return Err(Refusal::Malformed(format!(
            "Credential {credential:?} is not KEY/DATE/REGION/SERVICE/aws4_request"
        )));
    };
    if terminator != "aws4_request" {
        return Err(Refusal::WrongScope(format!("the credential scope must end in aws4_request, not {terminator}")));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::Malformed("Signature must be 64 hexadecimal digits".into()));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if signed_headers.iter().any(String::is_empty) || !signed_headers.iter().any(|h| h == "host") {
        return Err(Refusal::Malformed("SignedHeaders must name host".into()));
    }
    Ok(Claim {
        access_key: access_key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date: amz_date.to_string(),
        credential: credential.to_string(),
        expires: None,
    })
}

/// A request as the signature covers it.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as it arrived (still percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// SigV4's canonical request of `request`, over the headers `claim` names; a presigned URL's
/// own signature is not part of its query.
pub fn canonical_request(request: &Signed<'_>, claim: &Claim) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    if request.path.is_empty() {
        out.push('/');
    }
    for (i, segment) in request.path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, ENCODE));
    }
    out.push('\n');
    let query = request.query.unwrap_or("");
    if !query.is_empty() {
        let mut pairs: Vec<(String, String)> = query_pairs(query)
            .into_iter()
            .filter(|(k, _)| !(claim.expires.is_some() && k == "X-Amz-Signature"))
            .map(|(k, v)| (encode(&k), encode(&v)))
            .collect();
        pairs.sort();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out.push('\n');
    for name in &claim.signed_headers {
        out.push_str(name);
        out.push(':');
        for (i, value) in request.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Trimmed, each run of spaces one space.
            let text = String::from_utf8_lossy(value.as_bytes());
            for (j, word) in text.split_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in claim.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(&hex::encode(Sha256::digest(request.body)));
    out
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

/// A query string's pairs, percent-decoded (`+` is a plus: SigV4 clients write a space as %20).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The string to sign: the algorithm, the time, the scope, the canonical request's hash.
pub fn string_to_sign(claim: &Claim, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/aws4_request\n{}",
        claim.amz_date,
        claim.date,
        claim.region,
        claim.service,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key of a secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Whether `signature` (hex) is the one `key` gives `string_to_sign`, compared in constant time.
pub fn signature_holds(key: &[u8; 32], string_to_sign: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else { return false };
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else { return false };
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// Signing keys by credential scope (`KEY/DATE/REGION/SERVICE/aws4_request`): a key is four
/// HMACs, a request one; found without copying anything.
#[derive(Default)]
pub struct KeyCache {
    keys: parking_lot::Mutex<HashMap<String, [u8; 32]>>,
}

impl KeyCache {
    pub fn key(&self, claim: &Claim, secret: &str) -> [u8; 32] {
        let mut keys = self.keys.lock();
        if let Some(k) = keys.get(claim.credential.as_str()) {
            return *k;
        }
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        let k = signing_key(secret, &claim.date, &claim.region, &claim.service);
        keys.insert(claim.credential.clone(), k);
        k
    }
}

/// Milliseconds since the epoch of an `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
pub fn parse_amz_date(text: &str) -> Option<u64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(text, format).ok()?.assume_utc();
    u64::try_from(at.unix_timestamp()).ok().map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A request of AWS's SigV4 test suite: host example.amazonaws.com, 2015-08-30T12:36:00Z,
    /// us-east-1, service `service`.
    fn suite(method: &str, query: &str, extra: &[(&str, &str)], signed: &str, signature: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        for (k, v) in extra {
            headers.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
        );
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        let claim = claim(&headers, Some(query)).unwrap();
        let request = Signed { method, path: "/", query: Some(query), headers: &headers, body: b"" };
        let sts = string_to_sign(&claim, &canonical_request(&request, &claim));
        signature_holds(&signing_key(SECRET, "20150830", "us-east-1", "service"), &sts, &claim.signature)
    }

    #[test]
    fn the_published_test_vectors_verify() {
        let vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert!(suite("GET", "", &[], "host;x-amz-date", vanilla), "get-vanilla");
        let post = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
        assert!(suite("POST", "", &[], "host;x-amz-date", post), "post-vanilla");
        let ordered = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
        assert!(suite("GET", "Param2=value2&Param1=value1", &[], "host;x-amz-date", ordered), "query order");
        let duplicate = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea";
        let headers = [("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")];
        assert!(suite("GET", "", &headers, "host;my-header1;x-amz-date", duplicate), "get-header-key-duplicate");
    }

    #[test]
    fn a_changed_request_or_secret_does_not_verify() {
        let vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert!(!suite("POST", "", &[], "host;x-amz-date", vanilla), "another method");
        assert!(!suite("GET", "a=b", &[], "host;x-amz-date", vanilla), "another query");
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        let claim = Claim {
            access_key: "AKIDEXAMPLE".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "service".into(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: vanilla.into(),
            amz_date: "20150830T123600Z".into(),
            credential: "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request".into(),
            expires: None,
        };
        let request = Signed { method: "GET", path: "/", query: None, headers: &headers, body: b"" };
        let sts = string_to_sign(&claim, &canonical_request(&request, &claim));
        assert!(signature_holds(&signing_key(SECRET, "20150830", "us-east-1", "service"), &sts, vanilla));
        assert!(!signature_holds(&signing_key("another", "20150830", "us-east-1", "service"), &sts, vanilla));
        let with_body = Signed { body: b"x", ..request };
        let sts = string_to_sign(&claim, &canonical_request(&with_body, &claim));
        assert!(
            !signature_holds(&signing_key(SECRET, "20150830", "us-east-1", "service"), &sts, vanilla),
            "a body added"
        );
    }

    #[test]
    fn malformed_signatures_are_told_apart_from_missing_ones() {
        let headers = HeaderMap::new();
        assert_eq!(claim(&headers, None), Err(Refusal::Missing));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Basic dXNlcjpwYXNz"));
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        assert!(matches!(claim(&h, None), Err(Refusal::Malformed(_))));
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/sqs/aws4, SignedHeaders=host, Signature=00",
            ),
        );
        assert!(matches!(claim(&h, None), Err(Refusal::WrongScope(_))));
    }

    #[test]
    fn amz_dates_read_as_the_epoch_counts_them() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199_000));
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }
}
