//! AWS's size and count limits, as the local stack enforces them (infra/aws_limits.py): each
//! request over a limit is refused with the code and message the service answers.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use integration_tests::{aws, fresh_store, unique};

const KB: usize = 1024;

/// The code and message of a request the service refused.
fn refusal<T, E: ProvideErrorMetadata, R>(result: Result<T, SdkError<E, R>>) -> (String, String) {
    let Err(err) = result else {
        panic!("the request was accepted; AWS refuses it")
    };
    let Some(service) = err.as_service_error() else {
        panic!("not refused by the service: {:?}", err.code())
    };
    (
        service.code().unwrap_or_default().to_owned(),
        service.message().unwrap_or_default().to_owned(),
    )
}

// ---- EventBridge PutEvents --------------------------------------------------------------------

async fn bus() -> (aws_sdk_eventbridge::Client, String) {
    let eb = aws_sdk_eventbridge::Client::new(&aws().await.unwrap());
    let name = unique("limits");
    eb.create_event_bus().name(&name).send().await.unwrap();
    (eb, name)
}

/// An entry whose size, as EventBridge computes it (Source, DetailType and Detail in UTF-8),
/// is `size` bytes.
fn entry(bus: &str, size: usize) -> aws_sdk_eventbridge::types::PutEventsRequestEntry {
    let (source, detail_type) = ("acw.limits", "Sized");
    let padding = size - source.len() - detail_type.len() - r#"{"p":""}"#.len();
    let detail = format!(r#"{{"p":"{}"}}"#, "x".repeat(padding));
    assert_eq!(source.len() + detail_type.len() + detail.len(), size);
    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(source)
        .detail_type(detail_type)
        .detail(detail)
        .build()
}

const TOO_LARGE: &str = "Total size of the entries in the request is over the limit.";

#[tokio::test]
async fn put_events_refuses_more_than_ten_entries() {
    let (eb, bus) = bus().await;
    let send = |n: usize| {
        eb.put_events()
            .set_entries(Some((0..n).map(|_| entry(&bus, 100)).collect()))
            .send()
    };
    let (code, message) = refusal(send(11).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert!(
        message.contains("Member must have length less than or equal to 10"),
        "{message}"
    );
    assert_eq!(send(10).await.unwrap().failed_entry_count(), 0);
}

#[tokio::test]
async fn put_events_refuses_entries_totalling_over_256_kb_as_a_whole() {
    let (eb, bus) = bus().await;
    // Each entry is well under the limit; three of them are not.
    let send = |n: usize| {
        eb.put_events()
            .set_entries(Some((0..n).map(|_| entry(&bus, 100 * KB)).collect()))
            .send()
    };
    assert_eq!(
        refusal(send(3).await),
        ("ValidationException".into(), TOO_LARGE.into())
    );
    assert_eq!(send(2).await.unwrap().failed_entry_count(), 0);
}

#[tokio::test]
async fn put_events_refuses_a_single_entry_over_256_kb() {
    let (eb, bus) = bus().await;
    let send = |size: usize| eb.put_events().entries(entry(&bus, size)).send();
    assert_eq!(
        refusal(send(300 * KB).await),
        ("ValidationException".into(), TOO_LARGE.into())
    );
    // "The total entry size must be less than 256KB."
    assert_eq!(refusal(send(256 * KB).await).1, TOO_LARGE);
    assert_eq!(send(256 * KB - 1).await.unwrap().failed_entry_count(), 0);
}

// ---- DynamoDB ---------------------------------------------------------------------------------

async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let config = aws().await.unwrap();
    let store = fresh_store(&config).await.unwrap();
    (
        aws_sdk_dynamodb::Client::new(&config),
        store.table().to_owned(),
    )
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// An item keyed `pk`/`sk` whose size, as DynamoDB computes it (attribute names plus values),
/// is `size` bytes.
fn item(pk: &str, size: usize) -> std::collections::HashMap<String, AttributeValue> {
    let keys = "pk".len() + pk.len() + "sk".len() + "item".len();
    let padding = size - keys - "data".len();
    [
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s("item")),
        ("data".to_owned(), s(&"x".repeat(padding))),
    ]
    .into()
}

fn key(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), s(pk)), ("sk".to_owned(), s("item"))].into()
}

async fn exists(ddb: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> bool {
    let got = ddb.get_item().table_name(table).set_key(Some(key(pk)));
    got.send().await.unwrap().item.is_some()
}

#[tokio::test]
async fn dynamodb_refuses_an_item_over_400_kb_and_accepts_one_under() {
    let (ddb, table) = table().await;
    let put = |pk: &str, size: usize| {
        ddb.put_item()
            .table_name(&table)
            .set_item(Some(item(pk, size)))
            .send()
    };
    let (code, message) = refusal(put("big", 401 * KB).await);
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "Item size has exceeded the maximum allowed size");
    assert!(!exists(&ddb, &table, "big").await);

    put("fits", 399 * KB).await.unwrap();
    // 400 KB is 409,600 bytes, names included: exactly that is accepted, a byte more is not.
    put("edge", 400 * KB).await.unwrap();
    assert_eq!(
        refusal(put("over", 400 * KB + 1).await).0,
        "ValidationException"
    );
    assert!(exists(&ddb, &table, "fits").await && exists(&ddb, &table, "edge").await);
}

#[tokio::test]
async fn batch_write_item_refuses_26_requests() {
    let (ddb, table) = table().await;
    let writes: Vec<WriteRequest> = (0..26)
        .map(|i| {
            let put = PutRequest::builder().set_item(Some(item(&format!("w{i}"), 100)));
            WriteRequest::builder()
                .put_request(put.build().unwrap())
                .build()
        })
        .collect();
    let (code, message) = refusal(
        ddb.batch_write_item()
            .request_items(&table, writes)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with("1 validation error detected: Value '{")
            && message.ends_with(
                "at 'requestItems' failed to satisfy constraint: Map value must satisfy \
                 constraint: [Member must have length less than or equal to 25, \
                 Member must have length greater than or equal to 1]"
            ),
        "{message}"
    );
    assert!(!exists(&ddb, &table, "w0").await);
}

#[tokio::test]
async fn batch_get_item_refuses_101_keys() {
    let (ddb, table) = table().await;
    let keys = KeysAndAttributes::builder()
        .set_keys(Some((0..101).map(|i| key(&format!("g{i}"))).collect()))
        .build()
        .unwrap();
    let (code, message) = refusal(
        ddb.batch_get_item()
            .request_items(&table, keys)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        format!(
            "1 validation error detected: Value at 'RequestItems.{table}.member.Keys' failed \
             to satisfy constraint: Member must have length less than or equal to 100"
        )
    );
}

fn transact_put(table: &str, pk: &str, size: usize) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item(pk, size)));
    TransactWriteItem::builder()
        .put(put.build().unwrap())
        .build()
}

#[tokio::test]
async fn transact_write_items_refuses_101_actions() {
    let (ddb, table) = table().await;
    let actions = (0..101)
        .map(|i| transact_put(&table, &format!("t{i}"), 100))
        .collect();
    let (code, message) = refusal(
        ddb.transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with("1 validation error detected: Value '[")
            && message.ends_with(
                "at 'transactItems' failed to satisfy constraint: \
                 Member must have length less than or equal to 100"
            ),
        "{message}"
    );
    assert!(!exists(&ddb, &table, "t0").await);
}

#[tokio::test]
async fn transact_write_items_refuses_items_totalling_over_4_mb() {
    let (ddb, table) = table().await;
    // Eleven items under 400 KB each: 11 of them pass 4 MB, 10 do not.
    let actions = |n: usize| {
        (0..n)
            .map(|i| transact_put(&table, &format!("m{n}-{i}"), 390 * KB))
            .collect()
    };
    let (code, message) = refusal(
        ddb.transact_write_items()
            .set_transact_items(Some(actions(11)))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException", "{message}");
    assert!(!exists(&ddb, &table, "m11-0").await);
    ddb.transact_write_items()
        .set_transact_items(Some(actions(10)))
        .send()
        .await
        .unwrap();
}

// ---- SQS --------------------------------------------------------------------------------------

#[tokio::test]
async fn sqs_refuses_a_message_over_256_kb() {
    let sqs = aws_sdk_sqs::Client::new(&aws().await.unwrap());
    let created = sqs.create_queue().queue_name(unique("limits")).send();
    let url = created.await.unwrap().queue_url.unwrap();
    let send = |size: usize| {
        sqs.send_message()
            .queue_url(&url)
            .message_body("x".repeat(size))
            .send()
    };
    let (code, message) = refusal(send(256 * KB + 1).await);
    assert_eq!(code, "InvalidParameterValue");
    assert_eq!(
        message,
        "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."
    );
    send(256 * KB).await.unwrap();

    // A batch is bound by the same total.
    let entry = |i: usize| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(format!("m{i}"))
            .message_body("x".repeat(100 * KB))
            .build()
            .unwrap()
    };
    let batch = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some((0..3).map(entry).collect()))
        .send()
        .await;
    let (code, message) = refusal(batch);
    assert!(code.ends_with("BatchRequestTooLong"), "{code}: {message}");
}
