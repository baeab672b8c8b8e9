//! Queue records written before the queue attributes were typed (the dead-letter policies kept
//! as JSON text) still load, and are written back byte for byte: the store keeps each
//! `QueueRecord` as one postcard blob, so this is its on-disk form.

use std::collections::BTreeMap;

use engine::store::QueueRecord;
use engine::RedrivePermission;
use engine::{DeduplicationScope, QueueAttributes};

/// A standard queue with a RedrivePolicy (set with its count as a string, stored normalized),
/// a RedriveAllowPolicy (stored as given) and VisibilityTimeout 45, as the code before typed
/// attributes encoded it.
const STANDARD_WITH_POLICIES: &[u8] = b"\x03src\x07\xe8\x07\xd0\x0f\x00\x80\x80@\x80\x8c\x15\x00-\x00\x01T{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dlq\",\"maxReceiveCount\":5}\x01a{ \"redrivePermission\": \"byQueue\", \"sourceQueueArns\": [\"arn:aws:sqs:us-east-1:000000000000:src\"] }\x00\xac\x02\x01\x00\x00\x05queue\x08perQueue\x01\x04team\x01a\x01\xb8\x17";

/// A FIFO queue with ContentBasedDeduplication, as the same code encoded it.
const FIFO: &[u8] = b"\x0aplain.fifo\x07\xe8\x07\xd0\x0f\x00\x80\x80@\x80\x8c\x15\x00\x1e\x00\x00\x00\x00\xac\x02\x01\x01\x01\x05queue\x08perQueue\x01\x04team\x01a\x01\xb8\x17";

#[test]
fn a_record_written_before_typed_attributes_loads_with_its_policies_parsed() {
    let record: QueueRecord = postcard::from_bytes(STANDARD_WITH_POLICIES).expect("an old record decodes");
    assert_eq!((record.name.as_str(), record.uid, record.last_purge), ("src", 7, Some(3_000)));
    assert_eq!(record.tags, BTreeMap::from([("team".to_string(), "a".to_string())]));
    let a = &record.attributes;
    assert_eq!(a.visibility_timeout, 45);
    assert!(!a.is_fifo());
    let policy = a.redrive().expect("RedrivePolicy");
    assert_eq!(policy.dead_letter_target_arn, "arn:aws:sqs:us-east-1:000000000000:dlq");
    assert_eq!(policy.max_receive_count, 5);
    let allow = a.redrive_allow_policy.as_ref().expect("RedriveAllowPolicy");
    assert_eq!(
        allow.permission(),
        &RedrivePermission::ByQueue(vec!["arn:aws:sqs:us-east-1:000000000000:src".to_string()])
    );
    assert_eq!(
        a.get("RedriveAllowPolicy").as_deref(),
        Some(r#"{ "redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:us-east-1:000000000000:src"] }"#)
    );
    assert_eq!(postcard::to_stdvec(&record).unwrap(), STANDARD_WITH_POLICIES, "written back unchanged");
}

#[test]
fn a_fifo_record_written_before_typed_attributes_loads_as_fifo() {
    let record: QueueRecord = postcard::from_bytes(FIFO).expect("an old record decodes");
    assert!(record.attributes.is_fifo());
    assert!(record.attributes.content_based_deduplication);
    assert!(record.attributes.redrive().is_none() && record.attributes.redrive_allow_policy.is_none());
    assert_eq!(postcard::to_stdvec(&record).unwrap(), FIFO, "written back unchanged");
}

#[test]
fn an_older_fifo_record_deduplicates_by_the_scope_it_reports() {
    let record: QueueRecord = postcard::from_bytes(FIFO).expect("an old record decodes");
    assert_eq!(record.attributes.deduplication_scope, DeduplicationScope::Queue);
    assert_eq!(record.attributes.deduplicates_by, DeduplicationScope::Queue);
}

/// A FIFO queue created with DeduplicationScope=queue and switched to messageGroup reports the
/// new scope but deduplicates by the old one: both are kept, in the field that held the scope.
#[test]
fn a_switched_deduplication_scope_is_stored_with_the_scope_deduplication_uses() {
    let created = BTreeMap::from([("FifoQueue".to_string(), "true".to_string())]);
    let mut attributes = QueueAttributes::created(true, &created).unwrap();
    attributes =
        attributes.apply(&BTreeMap::from([("DeduplicationScope".to_string(), "messageGroup".to_string())])).unwrap();
    let record = QueueRecord {
        name: "switched.fifo".into(),
        uid: 7,
        created_at: 1_000,
        last_modified: 2_000,
        attributes,
        tags: BTreeMap::new(),
        last_purge: None,
    };
    let bytes = postcard::to_stdvec(&record).unwrap();
    assert_eq!(
        bytes,
        b"\x0dswitched.fifo\x07\xe8\x07\xd0\x0f\x00\x80\x80@\x80\x8c\x15\x00\x1e\x00\x00\x00\x00\xac\x02\x01\x01\x00\x12messageGroup;queue\x08perQueue\x00\x00"
    );
    let back: QueueRecord = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.attributes.get("DeduplicationScope").as_deref(), Some("messageGroup"));
    assert_eq!(back.attributes.deduplicates_by, DeduplicationScope::Queue);
    assert_eq!(back, record);
}
