//! How long checking one signature takes: a SendMessage request as aws-sdk-sqs signs it,
//! verified 200,000 times. `cargo run --release -p redrive --example sigv4_cost`
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use redrive::auth::{Auth, Credentials};

#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
fn main() {
    let creds = Credentials::parse(
        "[[keys]]\naccess_key_id = \"AKIDREDRIVEBENCH0001\"\nsecret_access_key = \"redrive-bench-secret\"\naccount_id = \"000000000000\"\n",
    )
    .unwrap();
    let auth = Auth::new(creds, "us-east-1");
    let body = br#"{"QueueUrl":"http://127.0.0.1:9324/000000000000/q","MessageBody":"a message body of about a hundred bytes, as small messages are in practice........"}"#;
    let identity =
        aws_credential_types::Credentials::new("AKIDREDRIVEBENCH0001", "redrive-bench-secret", None, None, "x").into();
    let now = SystemTime::now();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sqs")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "127.0.0.1:9324"),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.SendMessage"),
        ("amz-sdk-invocation-id", "0b5c6a10-5a8a-4b4e-9d0a-1f2e3d4c5b6a"),
        ("amz-sdk-request", "attempt=1; max=1"),
        ("x-amz-user-agent", "aws-sdk-rust/1.0 ua/2.1 api/sqs/1.0 os/linux lang/rust/1.95"),
        ("content-length", "150"),
    ];
    let signable =
        SignableRequest::new("POST", "http://127.0.0.1:9324/", headers.iter().copied(), SignableBody::Bytes(body))
            .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = hyper::Request::builder().method("POST").uri("/");
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let (parts, ()) = request.into_parts();
    let at = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(auth.verify(&parts, body, at).is_ok());
    let n = 200_000;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(auth.verify(&parts, body, at).is_ok());
    }
    let per: Duration = t0.elapsed() / n;
    println!("one signature checked in {per:?} ({n} in a row, the signing key cached)");
}
