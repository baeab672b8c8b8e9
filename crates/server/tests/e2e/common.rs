//! Shared setup: an in-process Redrive on an ephemeral port, an unchanged aws-sdk-sqs
//! client pointed at it, and helpers that read the way a user of SQS would check things.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_sqs::config::{BehaviorVersion, Region, StalledStreamProtectionConfig};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeValue, QueueAttributeName,
};
use aws_sdk_sqs::Client;

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

/// A running server and a client that talks to it.
pub struct Harness {
    pub server: redrive::Server,
    pub client: Client,
}

impl Harness {
    /// Starts a server with `Config::for_tests()`.
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut redrive::Config)) -> Harness {
        let mut config = redrive::Config::for_tests();
        adjust(&mut config);
        let server = redrive::start(config).await.expect("start");
        let client = client_for(&server.endpoint());
        Harness { server, client }
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Moves the server's manual clock forward by `secs` seconds.
    pub fn advance(&self, secs: u64) {
        self.server.advance_clock(Duration::from_secs(secs));
    }

    /// The URL a queue of this name must have on this server.
    pub fn expected_url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.endpoint())
    }

    pub async fn create_queue(&self, name: &str) -> String {
        self.create_queue_with(name, &[]).await
    }

    pub async fn create_queue_with(&self, name: &str, attributes: &[(&str, &str)]) -> String {
        let mut request = self.client.create_queue().queue_name(name);
        for (key, value) in attributes {
            request = request.attributes(QueueAttributeName::from(*key), *value);
        }
        let output = request.send().await.expect("create queue");
        output.queue_url().expect("queue url").to_string()
    }

    /// Every attribute of the queue (`All`), keyed by name.
    pub async fn attributes(&self, url: &str) -> HashMap<String, String> {
        self.attributes_named(url, &["All"]).await
    }

    pub async fn attributes_named(&self, url: &str, names: &[&str]) -> HashMap<String, String> {
        let mut request = self.client.get_queue_attributes().queue_url(url);
        for name in names {
            request = request.attribute_names(QueueAttributeName::from(*name));
        }
        let output = request.send().await.expect("get queue attributes");
        output
            .attributes()
            .map(|map| map.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub async fn attribute(&self, url: &str, name: &str) -> String {
        let attributes = self.attributes_named(url, &[name]).await;
        attributes.get(name).unwrap_or_else(|| panic!("attribute {name} missing from {attributes:?}")).clone()
    }

    /// (visible, not visible, delayed) as GetQueueAttributes reports them.
    pub async fn counts(&self, url: &str) -> (u64, u64, u64) {
        let attributes = self
            .attributes_named(
                url,
                &[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
            .await;
        let get = |name: &str| -> u64 {
            attributes
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing from {attributes:?}"))
                .parse()
                .unwrap_or_else(|e| panic!("{name} is not a count: {e}"))
        };
        (
            get("ApproximateNumberOfMessages"),
            get("ApproximateNumberOfMessagesNotVisible"),
            get("ApproximateNumberOfMessagesDelayed"),
        )
    }

    pub async fn set_attribute(&self, url: &str, name: &str, value: &str) {
        self.client
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::from(name), value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("set {name}={value}: {e:?}"));
    }

    /// Sends `body` and checks the MD5 the server answers with.
    pub async fn send(&self, url: &str, body: &str) -> SendMessageOutput {
        let output = self.client.send_message().queue_url(url).message_body(body).send().await.expect("send message");
        assert_eq!(output.md5_of_message_body(), Some(md5_hex(body.as_bytes()).as_str()));
        assert!(output.message_id().is_some_and(|id| !id.is_empty()), "message id");
        output
    }

    /// One ReceiveMessage call with no wait, up to `max` messages; checks every body's MD5.
    pub async fn receive(&self, url: &str, max: i32) -> Vec<Message> {
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive message");
        let messages = output.messages().to_vec();
        for message in &messages {
            check_body_md5(message);
        }
        messages
    }

    /// Receives until the queue answers empty, returning every message seen.
    pub async fn drain(&self, url: &str) -> Vec<Message> {
        let mut all = Vec::new();
        for _ in 0..200 {
            let batch = self.receive(url, 10).await;
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
        panic!("queue did not drain in 200 receives");
    }

    pub async fn delete(&self, url: &str, message: &Message) {
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(message.receipt_handle().expect("receipt handle"))
            .send()
            .await
            .expect("delete message");
    }
}

/// A client configured as an application would configure it for a local endpoint.
/// Test configuration changed to keep the store in `dir` (a durable server).
pub fn on_disk(dir: &std::path::Path) -> impl FnOnce(&mut redrive::Config) + '_ {
    move |c: &mut redrive::Config| {
        c.in_memory = false;
        c.data_dir = dir.to_path_buf();
    }
}

/// Starts a durable server on `dir`, retrying every 20 ms (up to 5 s) while the previous
/// one's store is still closing.
pub async fn restart(dir: &std::path::Path) -> Harness {
    let mut last = String::new();
    for _ in 0..250 {
        let mut config = redrive::Config::for_tests();
        on_disk(dir)(&mut config);
        match redrive::start(config).await {
            Ok(server) => return Harness { client: client_for(&server.endpoint()), server },
            Err(e) => last = e.to_string(),
        }
        real_pause(20).await;
    }
    panic!("restart on {}: {last}", dir.display());
}

/// A new empty directory for a durable server's files.
pub fn fresh_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("redrive-e2e-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn client_for(endpoint: &str) -> Client {
    signed_client(endpoint, REGION, "AKIDTEST", "secret")
}

/// A client signing with this key and secret for this region.
pub fn signed_client(endpoint: &str, region: &str, access_key: &str, secret: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(access_key, secret, None, None, "e2e"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// The legacy error code of a failed call (`x-amzn-query-error`), panicking on success.
pub fn error_code<T: Debug, E, R>(result: Result<T, SdkError<E, R>>) -> String
where
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => match err.code() {
            Some(code) => code.to_string(),
            None => format!("<no code: {err:?}>"),
        },
    }
}

/// The legacy code and the message of a failed call, panicking on success.
pub fn error_of<T: Debug, E, R>(result: Result<T, SdkError<E, R>>) -> (String, String)
where
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => {
            (err.code().unwrap_or("<no code>").to_string(), err.message().unwrap_or("<no message>").to_string())
        }
    }
}

/// The HTTP status of a failed call.
pub fn http_status<E>(err: &SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> u16 {
    err.raw_response().map(|r| r.status().as_u16()).unwrap_or_else(|| panic!("no HTTP response"))
}

/// Pauses for real (wall-clock) time: only to let a request reach the server, never to
/// let simulated time pass (that is what `Harness::advance` is for).
#[allow(clippy::disallowed_methods)]
pub async fn real_pause(millis: u64) {
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Seconds since the epoch by the real clock.
#[allow(clippy::disallowed_methods)]
pub fn real_now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after epoch").as_secs()
}

pub fn string_attribute(value: &str) -> MessageAttributeValue {
    typed_string_attribute("String", value)
}

pub fn typed_string_attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type(data_type).string_value(value).build().expect("attribute")
}

pub fn binary_attribute(data_type: &str, value: &[u8]) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .binary_value(aws_sdk_sqs::primitives::Blob::new(value.to_vec()))
        .build()
        .expect("attribute")
}

pub fn system_attribute(value: &str) -> MessageSystemAttributeValue {
    MessageSystemAttributeValue::builder().data_type("String").string_value(value).build().expect("system attribute")
}

pub fn system_attributes(message: &Message) -> HashMap<String, String> {
    message
        .attributes()
        .map(|map| map.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
        .unwrap_or_default()
}

pub fn system_attribute_of(message: &Message, name: MessageSystemAttributeName) -> Option<String> {
    message.attributes().and_then(|map| map.get(&name).cloned())
}

pub fn check_body_md5(message: &Message) {
    let body = message.body().expect("body");
    assert_eq!(message.md5_of_body(), Some(md5_hex(body.as_bytes()).as_str()), "MD5OfBody of a received message");
}

/// The MD5 SQS computes over message attributes (MD5OfMessageAttributes).
pub fn md5_of_attributes(attributes: &HashMap<String, MessageAttributeValue>) -> String {
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    let mut buffer = Vec::new();
    for name in names {
        let value = &attributes[name];
        encode_attribute(
            &mut buffer,
            name,
            value.data_type(),
            value.string_value(),
            value.binary_value().map(|b| b.as_ref()),
        );
    }
    md5_hex(&buffer)
}

/// The MD5 SQS computes over message system attributes (MD5OfMessageSystemAttributes).
pub fn md5_of_system_attributes(attributes: &[(&str, &MessageSystemAttributeValue)]) -> String {
    let mut sorted = attributes.to_vec();
    sorted.sort_by_key(|(name, _)| *name);
    let mut buffer = Vec::new();
    for (name, value) in sorted {
        encode_attribute(
            &mut buffer,
            name,
            value.data_type(),
            value.string_value(),
            value.binary_value().map(|b| b.as_ref()),
        );
    }
    md5_hex(&buffer)
}

fn encode_attribute(buffer: &mut Vec<u8>, name: &str, data_type: &str, string: Option<&str>, binary: Option<&[u8]>) {
    push_sized(buffer, name.as_bytes());
    push_sized(buffer, data_type.as_bytes());
    match (string, binary) {
        (Some(s), _) => {
            buffer.push(1);
            push_sized(buffer, s.as_bytes());
        }
        (None, Some(b)) => {
            buffer.push(2);
            push_sized(buffer, b);
        }
        (None, None) => panic!("attribute {name} has no value"),
    }
}

fn push_sized(buffer: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("length fits u32");
    buffer.extend_from_slice(&len.to_be_bytes());
    buffer.extend_from_slice(bytes);
}

/// MD5 (RFC 1321) as lowercase hex; small enough to carry here instead of a dependency.
pub fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64u32)
        .map(|i| {
            let v = (f64::from(i + 1)).sin().abs() * 4_294_967_296.0;
            // The constant table of RFC 1321: floor(|sin(i + 1)| * 2^32), always < 2^32.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let word = v as u64 as u32;
            word
        })
        .collect();
    let mut a0: u32 = 0x6745_2301;
    let mut b0: u32 = 0xefcd_ab89;
    let mut c0: u32 = 0x98ba_dcfe;
    let mut d0: u32 = 0x1032_5476;

    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());

    for chunk in message.chunks(64) {
        let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0].iter().flat_map(|w| w.to_le_bytes()).map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_attribute_md5_helpers_match_digests_recorded_from_aws() {
    let foo = HashMap::from([("Foo".to_string(), string_attribute("Bar"))]);
    assert_eq!(md5_of_attributes(&foo), "ae7155c6026991b6d54b11589678bf9c");
    let mixed = HashMap::from([
        ("blob".to_string(), binary_attribute("Binary", &[1, 2, 3])),
        ("color".to_string(), string_attribute("blue")),
        ("count".to_string(), typed_string_attribute("Number", "3")),
    ]);
    assert_eq!(md5_of_attributes(&mixed), "d838729972a4b70e2d2acd9d59ac847c");
    let trace = system_attribute("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
    assert_eq!(md5_of_system_attributes(&[("AWSTraceHeader", &trace)]), "5ae4d5d7636402d80f4eb6d213245a88");
}

#[test]
fn the_md5_helper_matches_the_rfc_1321_test_vectors() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        md5_hex(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

pub const JSON: &str = "application/x-amz-json-1.0";

/// POST a JSON 1.0 call (`target`, e.g. an extension's `Redrive_v1.PeekMessages`) to `path`,
/// with extra headers; returns (status, body as JSON).
pub async fn post(
    h: &Harness,
    path: &str,
    target: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", h.endpoint()))
        .header("content-type", JSON)
        .header("x-amz-target", target)
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { serde_json::json!({}) } else { serde_json::from_str(&text).unwrap() })
}

/// A consumer that fails every message: received with no visibility timeout until each one
/// is handed to the DLQ.
pub async fn consumer_still_failing(h: &Harness, queue: &str) {
    for _ in 0..100 {
        let got = h.client.receive_message().queue_url(queue).max_number_of_messages(10).visibility_timeout(0);
        let got = got.send().await.unwrap().messages.unwrap_or_default();
        if got.is_empty() && h.counts(queue).await == (0, 0, 0) {
            return;
        }
    }
    panic!("{queue} kept its messages");
}
