//! A DynamoDB request's request units from its JSON and its answer's: what the meter
//! (`crate::meter`) bills each request it sees.

use serde_json::{Map, Value};

use super::units::{item_bytes, read_units, write_units};

/// The table's index key: a written item carrying it is written to the index too.
pub const INDEX_KEY: &str = "gsi1pk";

/// What DynamoDB adds to each item it stores ("Item sizes and formats").
pub const ITEM_OVERHEAD: u64 = 100;

/// The `key` array of `v` (empty when it has none).
pub fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `v` as an item (empty when it is not an object).
pub fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A written item's units: the table's, and the index's copy when it carries the index key.
fn written(item: &Map<String, Value>) -> f64 {
    let units = write_units(item_bytes(item));
    if item.contains_key(INDEX_KEY) {
        units * 2.0
    } else {
        units
    }
}

/// Read and write units of one DynamoDB request. Updates and deletes answer with their item
/// (the interceptor asks for it); a write that did not say its size counts one unit.
pub fn dynamodb_units(op: &str, request: &Value, answer: &Value) -> (f64, f64) {
    let consistent = |r: &Value| r.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
    match op {
        "GetItem" => (
            read_units(item_bytes(&object(&answer["Item"])), consistent(request)),
            0.0,
        ),
        "Query" | "Scan" => {
            let bytes = array(answer, "Items")
                .iter()
                .map(|i| item_bytes(&object(i)))
                .sum();
            (read_units(bytes, consistent(request)), 0.0)
        }
        "BatchGetItem" => {
            let mut units = 0.0;
            for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                let c = consistent(&request["RequestItems"][table]);
                for i in items.as_array().into_iter().flatten() {
                    units += read_units(item_bytes(&object(i)), c);
                }
            }
            (units, 0.0)
        }
        "PutItem" => (0.0, written(&object(&request["Item"]))),
        "UpdateItem" | "DeleteItem" => match answer.get("Attributes") {
            Some(item) => (0.0, written(&object(item))),
            None => (0.0, 1.0),
        },
        "BatchWriteItem" => {
            let mut units = 0.0;
            for (_, writes) in request["RequestItems"].as_object().into_iter().flatten() {
                for w in writes.as_array().into_iter().flatten() {
                    units += match w.get("PutRequest") {
                        Some(p) => written(&object(&p["Item"])),
                        None => 1.0,
                    };
                }
            }
            (0.0, units)
        }
        // Transactions cost twice; an update or check in one does not say its size.
        "TransactWriteItems" => {
            let units: f64 = array(request, "TransactItems")
                .iter()
                .map(|t| match t.get("Put") {
                    Some(p) => 2.0 * written(&object(&p["Item"])),
                    None => 2.0,
                })
                .sum();
            (0.0, units)
        }
        "TransactGetItems" => {
            let units: f64 = array(answer, "Responses")
                .iter()
                .map(|r| 2.0 * read_units(item_bytes(&object(&r["Item"])), true))
                .sum();
            (units, 0.0)
        }
        _ => (0.0, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamodb_requests_in_units() {
        let big = "x".repeat(5000);
        let cases = [
            (
                "GetItem",
                json!({}),
                json!({"Item": {"pk": {"S": "a"}}}),
                (0.5, 0.0),
            ),
            (
                "GetItem",
                json!({"ConsistentRead": true}),
                json!({"Item": {"pk": {"S": big}}}),
                (2.0, 0.0),
            ),
            (
                "Query",
                json!({}),
                json!({"Items": [{"pk": {"S": big}}, {"pk": {"S": big}}]}),
                (1.5, 0.0),
            ),
            (
                "PutItem",
                json!({"Item": {"pk": {"S": "a"}}}),
                json!({}),
                (0.0, 1.0),
            ),
            (
                "PutItem",
                json!({"Item": {"pk": {"S": big}, "gsi1pk": {"S": "g"}}}),
                json!({}),
                (0.0, 10.0),
            ),
            (
                "UpdateItem",
                json!({}),
                json!({"Attributes": {"pk": {"S": big}}}),
                (0.0, 5.0),
            ),
            (
                "UpdateItem",
                json!({}),
                json!({"__type": "ConditionalCheckFailedException"}),
                (0.0, 1.0),
            ),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"t": [
                {"PutRequest": {"Item": {"pk": {"S": "a"}}}}, {"DeleteRequest": {"Key": {}}}]}}),
                json!({}),
                (0.0, 2.0),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [
                {"Put": {"Item": {"pk": {"S": "a"}}}}, {"ConditionCheck": {}}]}),
                json!({}),
                (0.0, 4.0),
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"t": {"ConsistentRead": true}}}),
                json!({"Responses": {"t": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}),
                (2.0, 0.0),
            ),
        ];
        for (op, request, answer, want) in cases {
            assert_eq!(
                dynamodb_units(op, &request, &answer),
                want,
                "{op} {request}"
            );
        }
    }
}
