//! SendMessage, ReceiveMessage, DeleteMessage and ChangeMessageVisibility: visibility,
//! delays, retention, message and system attributes, body rules.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends, QueueAttributeName,
};

use crate::common::{
    binary_attribute, check_body_md5, error_code, error_of, md5_hex, md5_of_attributes, md5_of_system_attributes,
    string_attribute, system_attribute, system_attribute_of, system_attributes, typed_string_attribute, Harness,
};

fn bodies(messages: &[Message]) -> BTreeSet<String> {
    messages.iter().map(|m| m.body().expect("body").to_string()).collect()
}

/// Receives and deletes every available message, returning their bodies.
async fn take_all(h: &Harness, url: &str) -> BTreeSet<String> {
    let messages = h.drain(url).await;
    for m in &messages {
        h.delete(url, m).await;
    }
    bodies(&messages)
}

async fn receive_all_attributes(h: &Harness, url: &str) -> Vec<Message> {
    let output = h
        .client
        .receive_message()
        .queue_url(url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let messages = output.messages().to_vec();
    for m in &messages {
        check_body_md5(m);
    }
    messages
}

async fn receive_with_attribute_names(h: &Harness, url: &str, names: &[&str]) -> Message {
    let mut request = h.client.receive_message().queue_url(url);
    for name in names {
        request = request.message_attribute_names(*name);
    }
    let output = request.send().await.expect("receive");
    let messages = output.messages();
    assert_eq!(messages.len(), 1, "one message expected");
    messages[0].clone()
}

fn received_attributes(message: &Message) -> HashMap<String, MessageAttributeValue> {
    message.message_attributes().cloned().unwrap_or_default()
}

fn number(message: &Message, name: MessageSystemAttributeName) -> u64 {
    system_attribute_of(message, name.clone())
        .unwrap_or_else(|| panic!("{} missing from {:?}", name.as_str(), message.attributes()))
        .parse()
        .unwrap_or_else(|e| panic!("{} is not a number: {e}", name.as_str()))
}

// ---- send and receive ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_is_received_with_the_same_body_and_message_id() {
    let h = Harness::start().await;
    let url = h.create_queue("basic").await;
    let sent = h.send(&url, "hello, queue").await;
    let messages = h.receive(&url, 1).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.body(), Some("hello, queue"));
    assert_eq!(m.message_id(), sent.message_id());
    assert!(m.receipt_handle().is_some_and(|r| !r.is_empty()), "a receipt handle");
    assert_eq!(m.md5_of_body(), Some(md5_hex(b"hello, queue").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_gets_its_own_message_id() {
    let h = Harness::start().await;
    let url = h.create_queue("ids").await;
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        ids.insert(h.send(&url, &format!("m{i}")).await.message_id().expect("id").to_string());
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_queue_returns_no_messages() {
    let h = Harness::start().await;
    let url = h.create_queue("empty").await;
    assert!(h.receive(&url, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_without_max_number_of_messages_returns_at_most_one() {
    let h = Harness::start().await;
    let url = h.create_queue("one-at-a-time").await;
    for i in 0..3 {
        h.send(&url, &format!("m{i}")).await;
    }
    let output = h.client.receive_message().queue_url(&url).send().await.expect("receive");
    assert_eq!(output.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_number_of_messages_caps_a_receive_at_ten_and_every_message_is_delivered() {
    let h = Harness::start().await;
    let url = h.create_queue("many").await;
    let mut sent = BTreeSet::new();
    for i in 0..15 {
        let body = format!("message {i}");
        h.send(&url, &body).await;
        sent.insert(body);
    }
    let first = h.receive(&url, 10).await;
    assert!(!first.is_empty() && first.len() <= 10, "1..=10 messages, got {}", first.len());
    let one = h.receive(&url, 1).await;
    assert_eq!(one.len(), 1);
    let rest = h.drain(&url).await;
    let mut all = first;
    all.extend(one);
    all.extend(rest);
    assert_eq!(all.len(), 15, "each message delivered once while in flight");
    assert_eq!(bodies(&all), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_number_of_messages_outside_1_to_10_is_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-max").await;
    h.send(&url, "waiting").await;
    let result = h.client.receive_message().queue_url(&url).max_number_of_messages(11).send().await;
    assert_eq!(
        error_of(result).1,
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
    );
    for max in [0, 11, -1] {
        let result = h.client.receive_message().queue_url(&url).max_number_of_messages(max).send().await;
        assert_eq!(error_code(result), "InvalidParameterValue", "MaxNumberOfMessages {max}");
    }
    assert_eq!(h.counts(&url).await, (1, 0, 0), "a refused receive takes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_refuses_a_wait_time_above_20_seconds_or_a_visibility_timeout_above_12_hours() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-receive").await;
    let result = h.client.receive_message().queue_url(&url).wait_time_seconds(21).send().await;
    assert_eq!(
        error_of(result),
        (
            "InvalidParameterValue".to_string(),
            "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
                .to_string()
        )
    );
    let result = h.client.receive_message().queue_url(&url).wait_time_seconds(-1).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
    let result = h.client.receive_message().queue_url(&url).visibility_timeout(43201).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

// ---- visibility ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reappears_after_its_visibility_timeout_expires() {
    let h = Harness::start().await;
    let url = h.create_queue("reappear").await;
    h.send(&url, "again").await;
    let first = h.receive(&url, 1).await;
    assert_eq!(first.len(), 1);
    assert!(h.receive(&url, 1).await.is_empty(), "hidden while in flight");
    h.advance(29);
    assert!(h.receive(&url, 1).await.is_empty(), "still hidden after 29 of 30 s");
    h.advance(2);
    let second = h.receive(&url, 1).await;
    assert_eq!(second.len(), 1, "visible again after the default 30 s");
    assert_eq!(second[0].message_id(), first[0].message_id());
    assert_eq!(second[0].body(), Some("again"));
    assert_ne!(second[0].receipt_handle(), first[0].receipt_handle(), "a new receipt handle per receive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_visibility_timeout_sets_how_long_received_messages_stay_hidden() {
    let h = Harness::start().await;
    let url = h.create_queue_with("queue-vis", &[("VisibilityTimeout", "10")]).await;
    h.send(&url, "short").await;
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    h.advance(9);
    assert!(h.receive(&url, 1).await.is_empty());
    h.advance(2);
    assert_eq!(h.receive(&url, 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visibility_timeout_on_the_receive_overrides_the_queue_default() {
    let h = Harness::start().await;
    let url = h.create_queue("receive-vis").await;
    h.send(&url, "brief").await;
    let output = h.client.receive_message().queue_url(&url).visibility_timeout(5).send().await.expect("receive");
    assert_eq!(output.messages().len(), 1);
    h.advance(4);
    assert!(h.receive(&url, 1).await.is_empty());
    h.advance(2);
    assert_eq!(h.receive(&url, 1).await.len(), 1, "visible after 5 s, not 30");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visibility_timeout_of_zero_on_the_receive_leaves_the_message_visible() {
    let h = Harness::start().await;
    let url = h.create_queue("zero-vis").await;
    h.send(&url, "peek").await;
    let output = h.client.receive_message().queue_url(&url).visibility_timeout(0).send().await.expect("receive");
    assert_eq!(output.messages().len(), 1);
    assert_eq!(h.receive(&url, 1).await.len(), 1, "still visible");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_extends_how_long_a_message_stays_hidden() {
    let h = Harness::start().await;
    let url = h.create_queue("extend").await;
    h.send(&url, "slow work").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.advance(20);
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().expect("handle"))
        .visibility_timeout(100)
        .send()
        .await
        .expect("change visibility");
    h.advance(99);
    assert!(h.receive(&url, 1).await.is_empty(), "hidden for 100 s counted from the change");
    h.advance(2);
    assert_eq!(h.receive(&url, 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_to_zero_makes_the_message_visible_at_once() {
    let h = Harness::start().await;
    let url = h.create_queue("release").await;
    h.send(&url, "give back").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("change visibility to 0");
    assert_eq!(h.counts(&url).await, (1, 0, 0));
    let again = h.receive(&url, 1).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id(), m.message_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_refuses_a_timeout_above_12_hours() {
    let h = Harness::start().await;
    let url = h.create_queue("too-long").await;
    h.send(&url, "x").await;
    let m = h.receive(&url, 1).await.remove(0);
    let result = h
        .client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().expect("handle"))
        .visibility_timeout(43201)
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_never_comes_back() {
    let h = Harness::start().await;
    let url = h.create_queue("delete").await;
    h.send(&url, "done").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.delete(&url, &m).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    h.advance(60);
    assert!(h.receive(&url, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_with_the_latest_handle_after_the_visibility_timeout_still_deletes() {
    let h = Harness::start().await;
    let url = h.create_queue("late-delete").await;
    h.send(&url, "slow consumer").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.advance(31);
    assert_eq!(h.counts(&url).await, (1, 0, 0), "visible again");
    h.delete(&url, &m).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    assert!(h.receive(&url, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_of_a_deleted_message_fails_with_invalid_parameter_value() {
    let h = Harness::start().await;
    let url = h.create_queue("gone").await;
    h.send(&url, "x").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.delete(&url, &m).await;
    let result = h
        .client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().expect("handle"))
        .visibility_timeout(10)
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_message_twice_with_its_receipt_handle_succeeds() {
    let h = Harness::start().await;
    let url = h.create_queue("delete-twice").await;
    h.send(&url, "done").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.delete(&url, &m).await;
    h.delete(&url, &m).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

// ---- delays ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_delay_hides_new_messages_until_it_passes() {
    let h = Harness::start().await;
    let url = h.create_queue_with("delayed", &[("DelaySeconds", "10")]).await;
    h.send(&url, "wait for it").await;
    assert_eq!(h.counts(&url).await, (0, 0, 1));
    assert!(h.receive(&url, 1).await.is_empty());
    h.advance(9);
    assert!(h.receive(&url, 1).await.is_empty(), "still delayed at 9 s");
    h.advance(1);
    assert_eq!(h.counts(&url).await, (1, 0, 0));
    let messages = h.receive(&url, 1).await;
    assert_eq!(bodies(&messages), BTreeSet::from(["wait for it".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_message_delay_overrides_the_queue_delay() {
    let h = Harness::start().await;
    let url = h.create_queue_with("override", &[("DelaySeconds", "60")]).await;
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("now")
        .delay_seconds(0)
        .send()
        .await
        .expect("send with no delay");
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("soon")
        .delay_seconds(5)
        .send()
        .await
        .expect("send with 5 s delay");
    h.send(&url, "queue default").await;
    assert_eq!(h.counts(&url).await, (1, 0, 2));
    assert_eq!(take_all(&h, &url).await, BTreeSet::from(["now".to_string()]));
    h.advance(5);
    assert_eq!(take_all(&h, &url).await, BTreeSet::from(["soon".to_string()]));
    h.advance(55);
    assert_eq!(take_all(&h, &url).await, BTreeSet::from(["queue default".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delay_works_on_a_queue_without_one_and_is_capped_at_900_seconds() {
    let h = Harness::start().await;
    let url = h.create_queue("per-message").await;
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("max delay")
        .delay_seconds(900)
        .send()
        .await
        .expect("900 s is allowed");
    h.advance(899);
    assert!(h.receive(&url, 1).await.is_empty());
    h.advance(1);
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    for delay in [901, -1] {
        let result = h.client.send_message().queue_url(&url).message_body("too late").delay_seconds(delay).send().await;
        assert_eq!(error_code(result), "InvalidParameterValue", "DelaySeconds {delay}");
    }
}

// ---- retention ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_older_than_the_retention_period_are_deleted() {
    let h = Harness::start().await;
    let url = h.create_queue_with("short-lived", &[("MessageRetentionPeriod", "60")]).await;
    h.send(&url, "ephemeral").await;
    h.advance(30);
    h.send(&url, "younger").await;
    h.advance(29);
    assert_eq!(h.counts(&url).await, (2, 0, 0), "both kept within 60 s");
    h.advance(2);
    assert_eq!(h.counts(&url).await, (1, 0, 0), "the first expired at 60 s");
    let messages = h.receive(&url, 10).await;
    assert_eq!(bodies(&messages), BTreeSet::from(["younger".to_string()]));
    h.advance(60);
    assert_eq!(h.counts(&url).await, (0, 0, 0), "an in-flight message expires too");
    assert!(h.receive(&url, 10).await.is_empty());
}

// ---- message attributes ----

fn every_kind_of_attribute() -> HashMap<String, MessageAttributeValue> {
    HashMap::from([
        ("name".to_string(), string_attribute("Ada Lovelace")),
        ("count".to_string(), typed_string_attribute("Number", "42")),
        ("ratio".to_string(), typed_string_attribute("Number.float", "-325.5")),
        ("blob".to_string(), binary_attribute("Binary", &[0, 1, 2, 254, 255])),
        ("image".to_string(), binary_attribute("Binary.png", b"\x89PNG\r\n")),
        ("label".to_string(), typed_string_attribute("String.custom-type", "tagged ✓")),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attributes_of_every_type_round_trip_with_all() {
    let h = Harness::start().await;
    let url = h.create_queue("attrs").await;
    let attributes = every_kind_of_attribute();
    let sent = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("with attributes")
        .set_message_attributes(Some(attributes.clone()))
        .send()
        .await
        .expect("send with attributes");
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(b"with attributes").as_str()));
    assert_eq!(sent.md5_of_message_attributes(), Some(md5_of_attributes(&attributes).as_str()));

    let m = receive_with_attribute_names(&h, &url, &["All"]).await;
    check_body_md5(&m);
    let received = received_attributes(&m);
    assert_eq!(received, attributes);
    assert_eq!(m.md5_of_message_attributes(), Some(md5_of_attributes(&attributes).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attributes_can_be_selected_by_name_by_prefix_and_by_dot_star() {
    let h = Harness::start().await;
    let url = h.create_queue("select").await;
    let attributes = HashMap::from([
        ("user.name".to_string(), string_attribute("ada")),
        ("user.id".to_string(), typed_string_attribute("Number", "7")),
        ("tenant".to_string(), string_attribute("acme")),
        ("username".to_string(), string_attribute("not under user.")),
    ]);
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("selective")
        .set_message_attributes(Some(attributes.clone()))
        .send()
        .await
        .expect("send");

    let cases: &[(&[&str], &[&str])] = &[
        // `X.*` is a plain prefix match on `X` (recorded: `Hel.*` returns `Hello` and `Help.Me`).
        (&["user.*"], &["user.name", "user.id", "username"]),
        (&["tenant"], &["tenant"]),
        (&["tenant", "user.id"], &["tenant", "user.id"]),
        (&[".*"], &["user.name", "user.id", "tenant", "username"]),
        (&["*"], &["user.name", "user.id", "tenant", "username"]),
        (&["absent"], &[]),
    ];
    for (asked, expected) in cases {
        let m = receive_with_attribute_names(&h, &url, asked).await;
        let received = received_attributes(&m);
        let names: BTreeSet<&str> = received.keys().map(String::as_str).collect();
        assert_eq!(names, expected.iter().copied().collect::<BTreeSet<_>>(), "asked for {asked:?}");
        for (name, value) in &received {
            assert_eq!(Some(value), attributes.get(name), "{name}");
        }
        if !received.is_empty() {
            assert_eq!(
                m.md5_of_message_attributes(),
                Some(md5_of_attributes(&received).as_str()),
                "MD5 covers the returned attributes for {asked:?}"
            );
        }
        h.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().expect("handle"))
            .visibility_timeout(0)
            .send()
            .await
            .expect("release for the next case");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attributes_are_not_returned_unless_asked_for() {
    let h = Harness::start().await;
    let url = h.create_queue("quiet").await;
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("k", string_attribute("v"))
        .send()
        .await
        .expect("send");
    let m = h.receive(&url, 1).await.remove(0);
    assert!(received_attributes(&m).is_empty(), "{:?}", m.message_attributes());
    assert!(system_attributes(&m).is_empty(), "{:?}", m.attributes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_ten_message_attributes_are_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("crowded").await;
    let ten: HashMap<String, MessageAttributeValue> =
        (0..10).map(|i| (format!("a{i}"), string_attribute("v"))).collect();
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("ten is fine")
        .set_message_attributes(Some(ten.clone()))
        .send()
        .await
        .expect("ten attributes");
    let mut eleven = ten;
    eleven.insert("a10".to_string(), string_attribute("v"));
    let result = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("eleven is not")
        .set_message_attributes(Some(eleven))
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_names_with_latin_diacritics_are_accepted_and_other_characters_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("names").await;
    // AWS accepts these, though its documentation lists only ASCII letters.
    for name in ["attr.1øßä", "café", "Ŝtraße"] {
        h.client
            .send_message()
            .queue_url(&url)
            .message_body("x")
            .message_attributes(name, string_attribute("v"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    let got = receive_all_attributes(&h, &url).await;
    let names: BTreeSet<String> = got.iter().flat_map(|m| received_attributes(m).into_keys()).collect();
    assert_eq!(names, BTreeSet::from(["attr.1øßä".to_string(), "café".to_string(), "Ŝtraße".to_string()]));
    for name in ["emoji😀", "日本", "a b", "a..b", ".a", "a/b"] {
        let result = h
            .client
            .send_message()
            .queue_url(&url)
            .message_body("x")
            .message_attributes(name, string_attribute("v"))
            .send()
            .await;
        assert_eq!(error_code(result), "InvalidParameterValue", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attributes_with_a_bad_data_type_or_missing_value_are_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-attr").await;
    let bad_type = typed_string_attribute("Text", "v");
    let result =
        h.client.send_message().queue_url(&url).message_body("x").message_attributes("k", bad_type).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue", "data type Text");
    let no_value = MessageAttributeValue::builder().data_type("String").build().expect("attribute");
    let result =
        h.client.send_message().queue_url(&url).message_body("x").message_attributes("k", no_value).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue", "no value");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_values_in_message_attributes_are_an_unsupported_operation() {
    let h = Harness::start().await;
    let url = h.create_queue("lists").await;
    let list = MessageAttributeValue::builder()
        .data_type("String")
        .string_list_values("a")
        .string_list_values("b")
        .build()
        .expect("attribute");
    let result = h.client.send_message().queue_url(&url).message_body("x").message_attributes("k", list).send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.UnsupportedOperation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_attribute_must_hold_a_number() {
    let h = Harness::start().await;
    let url = h.create_queue("numbers").await;
    let result = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("n", typed_string_attribute("Number", "forty-two"))
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

// ---- standard queues and FIFO-only parameters ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deduplication_id_is_refused_on_a_standard_queue() {
    let h = Harness::start().await;
    let url = h.create_queue("standard").await;
    let result =
        h.client.send_message().queue_url(&url).message_body("x").message_deduplication_id("dedup-1").send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_group_id_on_a_standard_queue_is_accepted_and_returned() {
    let h = Harness::start().await;
    let url = h.create_queue("fair").await;
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("grouped")
        .message_group_id("tenant-7")
        .send()
        .await
        .expect("fair queues accept MessageGroupId");
    let messages = receive_all_attributes(&h, &url).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        system_attribute_of(&messages[0], MessageSystemAttributeName::MessageGroupId).as_deref(),
        Some("tenant-7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_fifo_system_attributes_on_a_standard_queue_omits_them() {
    let h = Harness::start().await;
    let url = h.create_queue("no-sequence").await;
    h.send(&url, "x").await;
    let output = h
        .client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::SequenceNumber)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .expect("receive");
    let attrs = system_attributes(&output.messages()[0]);
    assert_eq!(attrs.keys().map(String::as_str).collect::<BTreeSet<_>>(), BTreeSet::from(["SentTimestamp"]));
}

// ---- system attributes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_trace_header_system_attribute_round_trips_with_its_md5() {
    let h = Harness::start().await;
    let url = h.create_queue("traced").await;
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let value = system_attribute(trace);
    let sent = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("traced")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value.clone())
        .send()
        .await
        .expect("send with trace header");
    assert_eq!(
        sent.md5_of_message_system_attributes(),
        Some(md5_of_system_attributes(&[("AWSTraceHeader", &value)]).as_str())
    );
    assert!(sent.md5_of_message_attributes().is_none(), "no message attributes were sent");

    let output = h
        .client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .send()
        .await
        .expect("receive");
    let m = &output.messages()[0];
    assert_eq!(system_attribute_of(m, MessageSystemAttributeName::AwsTraceHeader).as_deref(), Some(trace));
    assert_eq!(system_attributes(m).len(), 1, "only what was asked: {:?}", m.attributes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_with_all_system_attributes_reports_sender_timestamps_and_receive_count() {
    let h = Harness::start().await;
    let url = h.create_queue("sysattrs").await;
    h.send(&url, "first").await;
    h.advance(10);
    h.send(&url, "second").await;
    h.advance(5);
    let mut messages = receive_all_attributes(&h, &url).await;
    assert_eq!(messages.len(), 2);
    messages.sort_by_key(|m| m.body().map(str::to_string));
    let (first, second) = (&messages[0], &messages[1]);
    for m in [first, second] {
        let attrs = system_attributes(m);
        for name in ["SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"] {
            assert!(attrs.contains_key(name), "{name} missing from {attrs:?}");
        }
        assert!(!attrs["SenderId"].is_empty());
        assert_eq!(attrs["ApproximateReceiveCount"], "1");
    }
    let sent_first = number(first, MessageSystemAttributeName::SentTimestamp);
    let sent_second = number(second, MessageSystemAttributeName::SentTimestamp);
    assert!(sent_first > 1_600_000_000_000, "SentTimestamp is epoch milliseconds: {sent_first}");
    assert!(
        (10_000..11_000).contains(&(sent_second - sent_first)),
        "sent 10 s apart by the clock: {}",
        sent_second - sent_first
    );
    let received = number(first, MessageSystemAttributeName::ApproximateFirstReceiveTimestamp);
    assert!(
        (15_000..16_000).contains(&(received - sent_first)),
        "first received 15 s after sending: {}",
        received - sent_first
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_receive_count_grows_with_each_receive_while_first_receive_time_stays() {
    let h = Harness::start().await;
    let url = h.create_queue("recount").await;
    h.send(&url, "retry me").await;
    let mut first_receive = None;
    for expected in 1..=3u64 {
        let messages = receive_all_attributes(&h, &url).await;
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(number(m, MessageSystemAttributeName::ApproximateReceiveCount), expected);
        let stamp = number(m, MessageSystemAttributeName::ApproximateFirstReceiveTimestamp);
        assert_eq!(*first_receive.get_or_insert(stamp), stamp, "first receive time never changes");
        h.advance(31);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_attributes_can_be_asked_for_one_by_one() {
    let h = Harness::start().await;
    let url = h.create_queue("one-attr").await;
    h.send(&url, "x").await;
    let output = h
        .client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    let attrs = system_attributes(&output.messages()[0]);
    assert_eq!(
        attrs.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["SentTimestamp", "ApproximateReceiveCount"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)]
async fn the_older_attribute_names_parameter_still_selects_system_attributes() {
    let h = Harness::start().await;
    let url = h.create_queue("legacy-names").await;
    h.send(&url, "x").await;
    let output = h
        .client
        .receive_message()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("receive");
    let attrs = system_attributes(&output.messages()[0]);
    assert!(attrs.contains_key("SentTimestamp"), "{attrs:?}");
    assert!(attrs.contains_key("ApproximateReceiveCount"), "{attrs:?}");
}

// ---- bodies ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_with_tabs_newlines_and_characters_from_every_unicode_plane_round_trip() {
    let h = Harness::start().await;
    let url = h.create_queue("unicode").await;
    let body = "tab\there\nnew line\r\ncarriage € ✓ 日本語 😀 \u{D7FF} \u{E000} \u{FFFD} \u{10000} \u{10FFFF} <xml attr=\"&amp;\"/> {\"json\": true}";
    let sent = h.send(&url, body).await;
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(body.as_bytes()).as_str()));
    let m = h.receive(&url, 1).await.remove(0);
    assert_eq!(m.body(), Some(body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_with_characters_outside_the_allowed_xml_range_fail_with_invalid_message_contents() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-chars").await;
    for body in ["\u{0}", "before\u{1}after", "bell\u{7}", "\u{8}", "\u{1F}", "\u{FFFE}", "\u{FFFF}"] {
        let result = h.client.send_message().queue_url(&url).message_body(body).send().await;
        assert_eq!(error_code(result), "InvalidMessageContents", "body {body:?}");
    }
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_body_is_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("empty-body").await;
    let result = h.client.send_message().queue_url(&url).message_body("").send().await;
    assert_eq!(
        error_of(result),
        ("MissingParameter".to_string(), "The request must contain the parameter MessageBody.".to_string())
    );
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_exactly_1_mib_is_accepted_and_one_byte_more_is_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("big").await;
    let body = "b".repeat(1_048_576);
    h.send(&url, &body).await;
    let m = h.receive(&url, 1).await.remove(0);
    assert_eq!(m.body().map(str::len), Some(1_048_576));
    let result = h.client.send_message().queue_url(&url).message_body("b".repeat(1_048_577)).send().await;
    assert_eq!(
        error_of(result),
        (
            "InvalidParameterValue".to_string(),
            "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.".to_string()
        )
    );
    assert_eq!(h.counts(&url).await, (0, 1, 0), "only the first was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_counts_attributes_together_with_the_body() {
    let h = Harness::start().await;
    let url = h.create_queue_with("limit", &[("MaximumMessageSize", "1024")]).await;
    // Name "k" (1) + type "String" (6) + value (17) = 24 bytes of attribute.
    let result = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1010))
        .message_attributes("k", string_attribute("seventeen bytes!!"))
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1000))
        .message_attributes("k", string_attribute("seventeen bytes!!"))
        .send()
        .await
        .expect("1000 + 24 bytes fit in 1024");
}
