//! What AWS bills a request in, from the sizes of what it carried: DynamoDB request units
//! from item sizes (the attribute names and values, as DynamoDB counts them), and the 64 KB
//! chunks EventBridge and SQS count.

use serde_json::{Map, Value};

/// The size DynamoDB bills for an item in its JSON form (`{"pk": {"S": "…"}, …}`): each
/// attribute's name plus its value ("Item sizes and formats", DynamoDB developer guide).
pub fn item_bytes(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_bytes(value))
        .sum()
}

/// One attribute value's size: strings and binaries by length, a number by its digits
/// (about one byte per two significant digits, plus one), maps and lists 3 bytes plus 1 per
/// element.
pub fn value_bytes(value: &Value) -> u64 {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let each = |v: &Value, f: &dyn Fn(&Value) -> u64| -> u64 {
        v.as_array().map_or(0, |a| a.iter().map(f).sum())
    };
    match kind.as_str() {
        "S" => v.as_str().map_or(0, |s| s.len() as u64),
        "N" => v.as_str().map_or(0, number_bytes),
        "B" => v.as_str().map_or(0, base64_bytes),
        "BOOL" | "NULL" => 1,
        "SS" => each(v, &|s| s.as_str().map_or(0, |s| s.len() as u64)),
        "NS" => each(v, &|s| s.as_str().map_or(0, number_bytes)),
        "BS" => each(v, &|s| s.as_str().map_or(0, base64_bytes)),
        "L" => 3 + each(v, &|e| 1 + value_bytes(e)),
        "M" => {
            3 + v.as_object().map_or(0, |m| {
                m.iter()
                    .map(|(k, e)| 1 + k.len() as u64 + value_bytes(e))
                    .sum()
            })
        }
        _ => 0,
    }
}

fn number_bytes(n: &str) -> u64 {
    let digits = n
        .trim_start_matches('-')
        .replace('.', "")
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len() as u64;
    digits.div_ceil(2) + 1
}

fn base64_bytes(b: &str) -> u64 {
    (b.trim_end_matches('=').len() as u64 * 3) / 4
}

/// Write request units of one write of `bytes`: one per KB begun, at least one.
pub fn write_units(bytes: u64) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read request units of a read returning `bytes`: one per 4 KB begun (at least one), half
/// that when eventually consistent.
pub fn read_units(bytes: u64, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Billed events (or SQS requests) for a payload of `bytes`: one per 64 KB begun.
pub fn chunks_64k(bytes: u64) -> f64 {
    bytes.div_ceil(64 * 1024).max(1) as f64
}

/// The size EventBridge bills a `PutEvents` entry by: its source, detail type, detail and
/// resources (and 14 bytes for a time, when given).
pub fn event_entry_bytes(entry: &Map<String, Value>) -> u64 {
    let text = |k: &str| entry.get(k).and_then(Value::as_str).map_or(0, str::len) as u64;
    let resources: u64 = entry
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(0, |r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(|s| s.len() as u64)
                .sum()
        });
    let time = if entry.contains_key("Time") { 14 } else { 0 };
    text("Source") + text("DetailType") + text("Detail") + resources + time
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn item_sizes_count_names_and_values() {
        let cases = [
            (json!({"pk": {"S": "ab"}}), 4),
            (json!({"n": {"N": "12345"}}), 1 + 4),
            (json!({"n": {"N": "-0.500"}}), 1 + 2),
            (json!({"ok": {"BOOL": true}, "z": {"NULL": true}}), 3 + 2),
            (
                json!({"l": {"L": [{"S": "a"}, {"S": "bc"}]}}),
                1 + 3 + 2 + 3,
            ),
            (json!({"m": {"M": {"k": {"S": "v"}}}}), 1 + 3 + 1 + 1 + 1),
            (json!({"b": {"B": "AAAA"}}), 1 + 3),
            (json!({"ss": {"SS": ["a", "bb"]}}), 2 + 3),
        ];
        for (v, want) in cases {
            assert_eq!(item_bytes(&item(v.clone())), want, "{v}");
        }
    }

    #[test]
    fn units_round_up_by_the_kilobyte_or_four() {
        let writes = [(0, 1.0), (1, 1.0), (1024, 1.0), (1025, 2.0), (3000, 3.0)];
        for (bytes, want) in writes {
            assert_eq!(write_units(bytes), want, "write {bytes}");
        }
        let reads = [
            (0, false, 0.5),
            (4096, false, 0.5),
            (4097, false, 1.0),
            (4097, true, 2.0),
            (10_000, true, 3.0),
        ];
        for (bytes, consistent, want) in reads {
            assert_eq!(read_units(bytes, consistent), want, "read {bytes}");
        }
    }

    #[test]
    fn events_are_billed_per_64_kb_chunk() {
        let cases = [(0, 1.0), (65_536, 1.0), (65_537, 2.0), (256 * 1024, 4.0)];
        for (bytes, want) in cases {
            assert_eq!(chunks_64k(bytes), want, "{bytes}");
        }
        let entry = item(json!({"Source": "abc", "DetailType": "de", "Detail": "{}",
            "Resources": ["r1"], "EventBusName": "not counted"}));
        assert_eq!(event_entry_bytes(&entry), 3 + 2 + 2 + 2);
    }
}
