//! Message contents: random bodies and attributes, their wire form, and the MD5s SQS
//! computes over them (so the harness can check the server's digests independently).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};
use rand::Rng;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrData {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub data_type: String,
    pub data: AttrData,
}

pub type Attrs = BTreeMap<String, Attr>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub body: String,
    pub attrs: Attrs,
}

pub const MAX_BODY_BYTES: usize = 4096;

const ATTR_NAMES: &[&str] = &["trace-id", "count", "blob", "origin.region", "n_1", "Tag", "payload.v2", "seq"];

impl Content {
    pub fn random(rng: &mut impl Rng) -> Content {
        let max_bytes = rng.gen_range(1..=MAX_BODY_BYTES);
        let body = random_text(rng, max_bytes);
        let n = rng.gen_range(0..=3);
        let mut attrs = Attrs::new();
        while attrs.len() < n {
            let name = ATTR_NAMES[rng.gen_range(0..ATTR_NAMES.len())];
            attrs.insert(name.to_string(), random_attr(rng));
        }
        Content { body, attrs }
    }

    /// The `MessageAttributes` member of a send, or None without attributes.
    pub fn attrs_json(&self) -> Option<Value> {
        if self.attrs.is_empty() {
            return None;
        }
        let map: Map<String, Value> = self
            .attrs
            .iter()
            .map(|(name, a)| {
                let v = match &a.data {
                    AttrData::Text(s) => json!({ "DataType": a.data_type, "StringValue": s }),
                    AttrData::Bytes(b) => json!({ "DataType": a.data_type, "BinaryValue": STANDARD.encode(b) }),
                };
                (name.clone(), v)
            })
            .collect();
        Some(Value::Object(map))
    }

    pub fn md5_body(&self) -> String {
        hex(&Md5::digest(self.body.as_bytes()))
    }

    /// As SQS computes it: per attribute in name order, length-prefixed name and data
    /// type, a transport byte (1 text, 2 binary), the length-prefixed value.
    pub fn md5_attrs(&self) -> Option<String> {
        if self.attrs.is_empty() {
            return None;
        }
        fn prefixed(h: &mut Md5, bytes: &[u8]) {
            h.update((bytes.len() as u32).to_be_bytes());
            h.update(bytes);
        }
        let mut h = Md5::new();
        for (name, a) in &self.attrs {
            prefixed(&mut h, name.as_bytes());
            prefixed(&mut h, a.data_type.as_bytes());
            match &a.data {
                AttrData::Text(s) => {
                    h.update([1u8]);
                    prefixed(&mut h, s.as_bytes());
                }
                AttrData::Bytes(b) => {
                    h.update([2u8]);
                    prefixed(&mut h, b);
                }
            }
        }
        Some(hex(&h.finalize()))
    }

    /// Short description for reports: size, digest and attribute names.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.attrs.keys().map(String::as_str).collect();
        format!("body {} B md5 {} attrs [{}]", self.body.len(), self.md5_body(), names.join(","))
    }

    /// What differs between `self` (expected) and `got`, for a failure line.
    pub fn diff(&self, got: &Content) -> String {
        let mut out = Vec::new();
        if self.body != got.body {
            let at = self.body.bytes().zip(got.body.bytes()).take_while(|(a, b)| a == b).count();
            out.push(format!(
                "body differs at byte {at}: expected {} B md5 {}, got {} B md5 {}",
                self.body.len(),
                self.md5_body(),
                got.body.len(),
                got.md5_body()
            ));
        }
        if self.attrs != got.attrs {
            out.push(format!("attributes: expected {}, got {}", short(&self.attrs), short(&got.attrs)));
        }
        out.join("; ")
    }
}

/// Parse a `MessageAttributes` member of a received message.
pub fn parse_attrs(v: Option<&Value>) -> Result<Attrs, String> {
    let mut out = Attrs::new();
    let Some(v) = v else { return Ok(out) };
    let Some(map) = v.as_object() else {
        return if v.is_null() { Ok(out) } else { Err(format!("MessageAttributes is not an object: {v}")) };
    };
    for (name, a) in map {
        let data_type =
            a.get("DataType").and_then(Value::as_str).ok_or_else(|| format!("attribute {name} has no DataType"))?;
        let data = if data_type.starts_with("Binary") {
            let text = a
                .get("BinaryValue")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("binary attribute {name} has no BinaryValue"))?;
            AttrData::Bytes(STANDARD.decode(text).map_err(|e| format!("attribute {name}: bad base64: {e}"))?)
        } else {
            let text = a
                .get("StringValue")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("attribute {name} has no StringValue"))?;
            AttrData::Text(text.to_string())
        };
        out.insert(name.clone(), Attr { data_type: data_type.to_string(), data });
    }
    Ok(out)
}

fn short(attrs: &Attrs) -> String {
    let text = format!("{attrs:?}");
    if text.len() <= 300 {
        return text;
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn random_attr(rng: &mut impl Rng) -> Attr {
    match rng.gen_range(0..6) {
        0 | 1 => {
            let len = rng.gen_range(1..=64);
            let data_type = if rng.gen_bool(0.2) { "String.custom" } else { "String" };
            Attr { data_type: data_type.into(), data: AttrData::Text(random_text(rng, len)) }
        }
        2 | 3 => {
            let text = match rng.gen_range(0..3) {
                0 => rng.gen_range(-1_000_000i64..1_000_000).to_string(),
                1 => format!("{:.3}", rng.gen_range(-1000.0f64..1000.0)),
                _ => format!("{}e{}", rng.gen_range(1..100), rng.gen_range(-5..5)),
            };
            let data_type = if rng.gen_bool(0.2) { "Number.float" } else { "Number" };
            Attr { data_type: data_type.into(), data: AttrData::Text(text) }
        }
        _ => {
            let len = rng.gen_range(1..=48);
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let data_type = if rng.gen_bool(0.2) { "Binary.gz" } else { "Binary" };
            Attr { data_type: data_type.into(), data: AttrData::Bytes(bytes) }
        }
    }
}

/// Random text of at most `max_bytes` UTF-8 bytes (at least one character), drawn from
/// what SQS accepts: tab, newline, CR, printable ASCII, Latin-1, Greek, CJK, emoji.
fn random_text(rng: &mut impl Rng, max_bytes: usize) -> String {
    let mut s = String::with_capacity(max_bytes);
    loop {
        let c = match rng.gen_range(0..100) {
            0..=59 => char::from(rng.gen_range(0x20u8..0x7f)),
            60..=62 => ['\t', '\n', '\r'][rng.gen_range(0..3)],
            63..=74 => char::from_u32(rng.gen_range(0xa0..0x100)).unwrap_or('é'),
            75..=82 => char::from_u32(rng.gen_range(0x391..0x3a9)).unwrap_or('λ'),
            83..=92 => char::from_u32(rng.gen_range(0x4e00..0x9fff)).unwrap_or('中'),
            _ => char::from_u32(rng.gen_range(0x1f300..0x1f64f)).unwrap_or('🙂'),
        };
        if s.len() + c.len_utf8() > max_bytes {
            break;
        }
        s.push(c);
    }
    if s.is_empty() {
        s.push(char::from(rng.gen_range(b'a'..=b'z')));
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn md5_of_attributes_matches_the_aws_example_layout() {
        let mut attrs = Attrs::new();
        attrs.insert("a".into(), Attr { data_type: "String".into(), data: AttrData::Text("x".into()) });
        let c = Content { body: "hi".into(), attrs };
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        expected.extend_from_slice(b"String");
        expected.extend_from_slice(&[1, 0, 0, 0, 1, b'x']);
        assert_eq!(c.md5_attrs(), Some(hex(&Md5::digest(&expected))));
        assert_eq!(c.md5_body(), "49f68a5c8493ec2c0bf489821c21fc3b");
    }

    #[test]
    fn random_content_round_trips_through_json() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let c = Content::random(&mut rng);
            assert!(!c.body.is_empty() && c.body.len() <= MAX_BODY_BYTES);
            let back = parse_attrs(c.attrs_json().as_ref()).expect("parses");
            assert_eq!(back, c.attrs);
        }
    }
}
