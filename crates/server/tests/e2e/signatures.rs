//! With a credentials file, every request is checked as AWS checks it: signed (SigV4) by a
//! known key, with the right secret, for this region and service, within 15 minutes of the
//! server's clock — refused otherwise in AWS's codes — and each key's requests are its
//! account's, which sees only its own queues.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::json;

use crate::common::{error_of, fresh_dir, http_status, post, signed_client, system_attribute_of, Harness, REGION};

const ONE: (&str, &str) = ("AKIAEXAMPLEONE000001", "secret-of-key-one-0123456789");
const TWO: (&str, &str) = ("AKIAEXAMPLETWO000002", "secret-of-key-two-0123456789");

async fn signed_server() -> Harness {
    let dir = fresh_dir("credentials");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[[keys]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\naccount_id = \"111111111111\"\n\n\
             [[keys]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\naccount_id = \"222222222222\"\n",
            ONE.0, ONE.1, TWO.0, TWO.1
        ),
    )
    .unwrap();
    Harness::start_with(|c| c.credentials = Some(file)).await
}

#[tokio::test]
async fn a_signed_request_is_its_keys_account_and_its_sender_is_a_principal_not_the_key() {
    let h = signed_server().await;
    let one = signed_client(&h.endpoint(), REGION, ONE.0, ONE.1);
    let url = one.create_queue().queue_name("orders").send().await.unwrap().queue_url.unwrap();
    assert!(url.ends_with("/111111111111/orders"), "{url}");
    one.send_message().queue_url(&url).message_body("hi").send().await.unwrap();
    let got = one
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::SenderId)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    let sender = system_attribute_of(&got[0], MessageSystemAttributeName::SenderId).unwrap();
    assert!(sender.starts_with("AIDA") && !sender.contains(ONE.0), "{sender}");

    // The other account sees none of it.
    let two = signed_client(&h.endpoint(), REGION, TWO.0, TWO.1);
    assert!(two.list_queues().send().await.unwrap().queue_urls.unwrap_or_default().is_empty());
    let (code, _) = error_of(two.get_queue_url().queue_name("orders").send().await);
    assert_eq!(code, "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test]
async fn bad_signatures_are_refused_in_aws_codes() {
    let h = signed_server().await;
    let refused = |client: aws_sdk_sqs::Client| async move {
        let result = client.list_queues().send().await;
        let status = result.as_ref().err().map(http_status);
        let (code, message) = error_of(result);
        (status, code, message)
    };
    let (status, code, message) = refused(signed_client(&h.endpoint(), REGION, ONE.0, "not-the-secret-at-all")).await;
    assert_eq!((status, code.as_str()), (Some(403), "SignatureDoesNotMatch"));
    assert!(message.starts_with("The request signature we calculated does not match"), "{message}");
    let (status, code, message) = refused(signed_client(&h.endpoint(), REGION, "AKIAUNKNOWNKEY000000", ONE.1)).await;
    assert_eq!((status, code.as_str()), (Some(403), "InvalidClientTokenId"));
    assert_eq!(message, "The security token included in the request is invalid.");
    let (status, code, message) = refused(signed_client(&h.endpoint(), "eu-west-1", ONE.0, ONE.1)).await;
    assert_eq!((status, code.as_str()), (Some(403), "SignatureDoesNotMatch"));
    assert!(message.contains("scoped to a valid region"), "{message}");

    // The server's clock 16 minutes ahead of the client's: the signature has expired.
    h.advance(16 * 60);
    let (status, code, message) = refused(signed_client(&h.endpoint(), REGION, ONE.0, ONE.1)).await;
    assert_eq!((status, code.as_str()), (Some(403), "SignatureDoesNotMatch"));
    assert!(message.starts_with("Signature expired: "), "{message}");

    // Unsigned: no credentials at all.
    let (status, out) = post(&h, "/", "AmazonSQS.ListQueues", json!({}), &[]).await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (403, Some("com.amazon.coral.service#AccessDeniedException")),
        "{out}"
    );
}

#[tokio::test]
async fn another_account_reaches_a_queue_only_as_its_policy_allows_and_an_explicit_deny_wins() {
    let h = signed_server().await;
    let one = signed_client(&h.endpoint(), REGION, ONE.0, ONE.1);
    let two = signed_client(&h.endpoint(), REGION, TWO.0, TWO.1);
    let url = one.create_queue().queue_name("shared").send().await.unwrap().queue_url.unwrap();
    let send = |client: &aws_sdk_sqs::Client| client.send_message().queue_url(&url).message_body("from two").send();
    assert_eq!(error_of(send(&two).await).0, "AccessDenied", "no policy: no access");

    // AddPermission grants account two SendMessage (and so SendMessageBatch), nothing more.
    one.add_permission()
        .queue_url(&url)
        .label("two-sends")
        .aws_account_ids("222222222222")
        .actions("SendMessage")
        .send()
        .await
        .unwrap();
    send(&two).await.unwrap();
    let entry =
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id("a").message_body("batch").build().unwrap();
    two.send_message_batch().queue_url(&url).entries(entry).send().await.unwrap();
    let receive = two.receive_message().queue_url(&url).send().await;
    assert_eq!(error_of(receive).0, "AccessDenied", "not granted");
    let delete = two.delete_queue().queue_url(&url).send().await;
    let (code, message) = error_of(delete);
    assert_eq!(code, "AccessDenied", "only the owner deletes");
    assert_eq!(message, "Access to the resource arn:aws:sqs:us-east-1:111111111111:shared is denied.");
    let got = one.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages.unwrap_or_default().len(), 2);

    // An explicit Deny beats the Allow, for the owner too.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:111111111111:shared" },
            { "Effect": "Deny", "Principal": "*", "Action": "sqs:PurgeQueue" }
        ]
    });
    one.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap();
    two.receive_message().queue_url(&url).send().await.unwrap();
    for client in [&two, &one] {
        let purge = client.purge_queue().queue_url(&url).send().await;
        assert_eq!(error_of(purge).0, "AccessDenied");
    }

    // A dead-letter queue must be in its source's account.
    let dlq = two.create_queue().queue_name("their-dlq").send().await.unwrap().queue_url.unwrap();
    assert!(dlq.contains("/222222222222/"));
    let redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:222222222222:their-dlq","maxReceiveCount":"3"}"#;
    let refused = one
        .create_queue()
        .queue_name("crossing")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await;
    let (code, message) = error_of(refused);
    assert_eq!(code, "InvalidParameterValue");
    assert!(
        message.ends_with("Reason: Dead letter target must be in the same account as the source queue."),
        "{message}"
    );
}

/// A SendMessage request signed by aws-sigv4 (the SDK's signer) for `service`, then sent with
/// `body` — the body it was signed with unless a test changes it.
async fn signed_post(h: &Harness, service: &str, signed_body: &str, sent_body: &str) -> (u16, serde_json::Value) {
    signed_post_as(h, service, (signed_body, sent_body), "AmazonSQS.ListQueues").await
}

/// `signed_post`, sending `sent_target` as X-Amz-Target (signed: AmazonSQS.ListQueues).
async fn signed_post_as(
    h: &Harness,
    service: &str,
    (signed_body, sent_body): (&str, &str),
    sent_target: &str,
) -> (u16, serde_json::Value) {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = aws_credential_types::Credentials::new(ONE.0, ONE.1, None, None, "e2e").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        // Signed at the server's own (manual) clock.
        .time(std::time::UNIX_EPOCH + std::time::Duration::from_millis(h.server.engine().clock().now()))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("{}/", h.endpoint());
    let host = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.ListQueues"),
    ];
    let signable =
        SignableRequest::new("POST", &url, headers.iter().copied(), SignableBody::Bytes(signed_body.as_bytes()))
            .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = reqwest::Client::new().post(&url).body(sent_body.to_string());
    for (name, value) in headers.iter().copied().filter(|(n, _)| *n != "host").chain(instructions.headers()) {
        request = request.header(name, if name == "x-amz-target" { sent_target } else { value });
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap_or_default())
}

#[tokio::test]
async fn a_body_or_header_changed_after_signing_or_a_signature_for_another_service_is_refused() {
    let h = signed_server().await;
    let (status, out) = signed_post(&h, "sqs", "{}", "{}").await;
    assert_eq!(status, 200, "as signed: {out}");
    let (status, out) = signed_post(&h, "sqs", "{}", r#"{"QueueNamePrefix":"x"}"#).await;
    assert_eq!((status, out["__type"].as_str()), (403, Some("com.amazon.coral.service#InvalidSignatureException")));
    let changed = signed_post_as(&h, "sqs", ("{}", r#"{"QueueName":"sneaky"}"#), "AmazonSQS.CreateQueue").await;
    assert_eq!(changed.0, 403, "a signed header changed after signing: {}", changed.1);
    let (status, out) = signed_post(&h, "s3", "{}", "{}").await;
    assert_eq!(status, 403);
    assert_eq!(out["message"], "Credential should be scoped to correct service: 'sqs'.");
}

#[tokio::test]
async fn the_console_sign_in_takes_no_request_from_another_site() {
    let h = signed_server().await;
    let body = json!({ "AccessKeyId": ONE.0, "SecretAccessKey": ONE.1 });
    let (status, out) = post(&h, "/console/signin", "", body.clone(), &[("origin", "http://evil.test")]).await;
    assert_eq!(
        (status, out["message"].as_str()),
        (403, Some("The console API only answers pages of this server's own origin."))
    );
    let (status, _) = post(&h, "/console/signin", "", body, &[]).await;
    assert_eq!(status, 403, "without the page's token");
}
