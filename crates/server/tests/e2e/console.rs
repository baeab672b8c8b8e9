//! The console's server side over HTTP: the Redrive_v1 extension API (PeekMessages changes
//! nothing the SDK can see; GetQueueDepthHistory), the console page and its guarded API
//! endpoint (same answers as the SQS API once the access check passes, refusals otherwise),
//! and the browser redirect from `/` that leaves API requests to `/` as they were.

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use serde_json::json;

use crate::common::{fresh_dir, on_disk, post, restart, system_attribute_of, Harness};

async fn console_token(h: &Harness) -> String {
    let page = reqwest::get(format!("{}/console", h.endpoint())).await.unwrap().text().await.unwrap();
    let start = page.find("name=\"redrive-console-token\" content=\"").unwrap() + 38;
    page[start..start + 64].to_string()
}

#[tokio::test]
async fn peeking_shows_messages_without_receiving_them_or_moving_them_to_the_dlq() {
    let h = Harness::start().await;
    let dlq = h.create_queue("peek-dlq").await;
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:peek-dlq","maxReceiveCount":"1"}"#;
    let src = h.create_queue_with("peek-src", &[("RedrivePolicy", policy)]).await;
    h.client
        .send_message()
        .queue_url(&src)
        .message_body(r#"{"order":1}"#)
        .message_attributes(
            "kind",
            MessageAttributeValue::builder().data_type("String").string_value("sale").build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    h.send(&src, "two").await;
    let url = json!({ "QueueUrl": src });
    for _ in 0..3 {
        let (status, out) = post(&h, "/", "Redrive_v1.PeekMessages", url.clone(), &[]).await;
        assert_eq!(status, 200, "{out}");
        let messages = out["Messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["Body"], r#"{"order":1}"#);
        assert_eq!(messages[0]["Attributes"]["ApproximateReceiveCount"], "0");
        assert_eq!(messages[0]["MessageAttributes"]["kind"]["StringValue"], "sale");
        assert_eq!(messages[0]["State"], "Available");
        assert!(out.get("NextToken").is_none());
    }
    // Peeked three times with maxReceiveCount 1: nothing received, nothing dead-lettered.
    assert_eq!(h.counts(&src).await, (2, 0, 0));
    assert_eq!(h.counts(&dlq).await, (0, 0, 0));
    let received = h
        .client
        .receive_message()
        .queue_url(&src)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 2);
    let count = system_attribute_of(&received[0], MessageSystemAttributeName::ApproximateReceiveCount);
    assert_eq!(count.as_deref(), Some("1"), "the first real receive counts 1");

    // In the DLQ, a peek shows where a message came from.
    h.client
        .change_message_visibility()
        .queue_url(&src)
        .receipt_handle(received[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert!(h.receive(&src, 10).await.is_empty(), "the second receive moves it to the DLQ");
    let (_, out) =
        post(&h, "/", "Redrive_v1.PeekMessages", json!({ "QueueUrl": dlq, "BodyContains": "order" }), &[]).await;
    let messages = out["Messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["Attributes"]["DeadLetterQueueSourceArn"], "arn:aws:sqs:us-east-1:000000000000:peek-src");
    assert_eq!(h.counts(&dlq).await, (1, 0, 0));
}

#[tokio::test]
async fn a_peek_reads_bodies_from_the_durable_store_and_writes_nothing() {
    let dir = fresh_dir("peek");
    let h = Harness::start_with(on_disk(&dir)).await;
    let q = h.create_queue("durable-peek").await;
    for i in 0..60 {
        h.send(&q, &format!("body {i}")).await;
    }
    let page = |token: Option<String>| {
        let mut input = json!({ "QueueUrl": q.clone() });
        if let Some(t) = token {
            input["NextToken"] = json!(t);
        }
        post(&h, "/", "Redrive_v1.PeekMessages", input, &[])
    };
    let (_, first) = page(None).await;
    let (_, second) = page(first["NextToken"].as_str().map(str::to_string)).await;
    let bodies: Vec<&str> = first["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["Messages"].as_array().unwrap())
        .map(|m| m["Body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 60, "50, then the other 10");
    assert_eq!((bodies[0], bodies[59]), ("body 0", "body 59"));
    assert!(second.get("NextToken").is_none());
    h.server.shutdown().await;
    // After a restart every message is still unreceived: the peeks wrote nothing.
    let h = restart(&dir).await;
    let (_, again) = post(
        &h,
        "/",
        "Redrive_v1.PeekMessages",
        json!({ "QueueUrl": h.expected_url("durable-peek"), "MaxResults": 1 }),
        &[],
    )
    .await;
    assert_eq!(again["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "0");
    assert_eq!(h.counts(&h.expected_url("durable-peek")).await, (60, 0, 0));
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn extension_errors_have_the_sqs_apis_shape_and_words() {
    let h = Harness::start().await;
    let q = h.create_queue("ext-errors").await;
    let (status, out) = post(&h, "/", "Redrive_v1.PeekMessages", json!({ "QueueUrl": q, "MaxResults": 51 }), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(out["__type"], "com.amazon.coral.service#InvalidParameterValueException");
    assert_eq!(
        out["message"],
        "Value 51 for parameter MaxResults is invalid. Reason: Must be between 1 and 50, if provided."
    );
    let (status, out) = post(&h, "/", "Redrive_v1.PeekMessages", json!({ "QueueUrl": format!("{q}-nope") }), &[]).await;
    assert_eq!((status, out["message"].as_str().unwrap()), (400, "The specified queue does not exist."));
    let (status, out) = post(&h, "/", "Redrive_v1.Nope", json!({}), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(out["message"], "The action Redrive_v1.Nope is not valid for this endpoint.");
}

#[tokio::test]
async fn the_depth_history_samples_every_ten_seconds_of_the_clock() {
    let h = Harness::start().await;
    let q = h.create_queue("depth").await;
    h.send(&q, "a").await;
    let history = || post(&h, "/", "Redrive_v1.GetQueueDepthHistory", json!({ "QueueUrl": q.clone() }), &[]);
    // The sampler sleeps on the manual clock: each 10 s advance lets it take one sample (the
    // answer also carries a point for now). Waits in real time for the task to run, bounded.
    for taken in 1..=3 {
        h.advance(10);
        let mut waited = 0;
        while history().await.1["Samples"].as_array().unwrap().len() < taken + 1 {
            assert!(waited < 200, "no sample {taken} after 10 s");
            crate::common::real_pause(50).await;
            waited += 1;
        }
    }
    h.send(&q, "b").await;
    let (status, out) = history().await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["IntervalSeconds"], 10);
    let samples = out["Samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4, "three samples and now: {out}");
    assert_eq!(samples[0]["ApproximateNumberOfMessages"], 1);
    assert_eq!(samples.last().unwrap()["ApproximateNumberOfMessages"], 2, "the last point is now");
}

#[tokio::test]
async fn the_console_api_answers_as_the_sqs_api_only_with_the_token_from_its_own_origin() {
    let h = Harness::start().await;
    let token = console_token(&h).await;
    let own = h.endpoint();
    let create = json!({ "QueueName": "from-console" });
    let good =
        [("x-redrive-console-token", token.as_str()), ("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let (status, out) = post(&h, "/console/api", "AmazonSQS.CreateQueue", create.clone(), &good).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["QueueUrl"], h.expected_url("from-console"));
    // The API's own validation and words.
    let bad = json!({ "QueueName": "from-console", "Attributes": { "VisibilityTimeout": "50000" } });
    let (status, out) = post(&h, "/console/api", "AmazonSQS.CreateQueue", bad.clone(), &good).await;
    let (api_status, api_out) = post(&h, "/", "AmazonSQS.CreateQueue", bad, &[]).await;
    assert_eq!((status, &out), (api_status, &api_out));
    // Refused: no token, a wrong one, another site (even with the token).
    let refusals: [&[(&str, &str)]; 4] = [
        &[("origin", own.as_str())],
        &[("origin", own.as_str()), ("x-redrive-console-token", "0000")],
        &[("origin", "http://evil.example"), ("x-redrive-console-token", token.as_str())],
        &[("sec-fetch-site", "cross-site"), ("x-redrive-console-token", token.as_str())],
    ];
    for headers in refusals {
        let (status, out) = post(
            &h,
            "/console/api",
            "AmazonSQS.DeleteQueue",
            json!({ "QueueUrl": h.expected_url("from-console") }),
            headers,
        )
        .await;
        assert_eq!(status, 403, "{headers:?}");
        assert_eq!(out["__type"], "com.amazon.coral.service#AccessDeniedException");
    }
    let attrs = h.attributes_named(&h.expected_url("from-console"), &["QueueArn"]).await;
    assert!(attrs.contains_key(QueueAttributeName::QueueArn.as_str()), "the refused deletes deleted nothing");
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy_and_a_browser_at_the_root_is_sent_there() {
    let h = Harness::start_with(|c| c.cors_origins = vec!["*".into()]).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page =
        client.get(format!("{}/console", h.endpoint())).header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.headers().get("access-control-allow-origin").is_none(), "no other origin may read the token");
    let js = client.get(format!("{}/console/console.js", h.endpoint())).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));

    let visit = client.get(format!("{}/", h.endpoint())).header("accept", "text/html,*/*;q=0.8").send().await.unwrap();
    assert_eq!(visit.status().as_u16(), 303);
    assert_eq!(visit.headers()["location"], "console");
    // Requests that are not a browser's page visit keep today's answers.
    let plain = client.get(format!("{}/", h.endpoint())).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 400);
    assert!(plain.text().await.unwrap().contains("<Code>MissingAction</Code>"));
    let listed =
        client.get(format!("{}/?Action=ListQueues", h.endpoint())).header("accept", "text/html").send().await.unwrap();
    assert_eq!(listed.status().as_u16(), 200);
}
