"""AWS's size and count limits as the local stack enforces them, in one table.

Each row is one documented quota, with the page it comes from. A changed quota is one edit
here: moto_server.py reads every value it enforces from LIMITS. `by` says who refuses a request
over the limit: MOTO when moto 5.2.5 already checks it at the same value (moto_server.py adds
nothing, so a change to such a row needs moto's own check changed too), HERE when
moto_server.py adds or corrects the check.

The sizes are computed as AWS computes them (the functions below the table), not as the length
of the request's JSON.
"""
import math
import re
from typing import Any, NamedTuple

MOTO = "moto checks this itself"
HERE = "moto_server.py"

KB = 1024
MB = 1024 * KB


class Limit(NamedTuple):
    value: int
    by: str


LIMITS = {
    # ---- EventBridge ------------------------------------------------------------------------
    # "PutEvents" API reference, Entries: "Array Members: Minimum number of 1 item. Maximum
    # number of 10 items." https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
    "events.PutEvents.entries": Limit(10, MOTO),
    # "Calculating Amazon EventBridge PutEvents event entry size": "The total entry size must be
    # less than 256KB" (Time 14 bytes if given; Source, DetailType, Detail and each Resources
    # entry as UTF-8 bytes).
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html
    # AWS announced 1 MB for EventBridge events, SQS messages and asynchronous Lambda payloads
    # on 29 January 2026, but the size page still says 256KB: the stricter 256 KB is kept, so
    # what passes here passes under either. A single entry is bound by the same figure (it is
    # the whole request's total when alone).
    "events.PutEvents.total_entry_bytes": Limit(256 * KB, HERE),
    # ---- SQS --------------------------------------------------------------------------------
    # "SendMessage" / "SendMessageBatch" API references: up to 10 messages a batch; "The maximum
    # allowed individual message size and the maximum total payload size (the sum of the
    # individual lengths of all of the batched messages) are both 256 KiB (262,144 bytes)."
    # Message attributes (name, data type and value) count toward the size ("Amazon SQS message
    # attributes").
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
    # SQS has since raised the maximum to 1 MiB (a queue's MaximumMessageSize; moto's default),
    # and the January 2026 note above covers it too: 256 KiB is kept, the stricter. A queue
    # whose own MaximumMessageSize is lower keeps its own.
    "sqs.SendMessage.message_bytes": Limit(256 * KB, HERE),
    "sqs.SendMessageBatch.entries": Limit(10, MOTO),
    "sqs.SendMessageBatch.total_bytes": Limit(256 * KB, HERE),
    # ---- DynamoDB ---------------------------------------------------------------------------
    # "Service, account, and table quotas in Amazon DynamoDB", Items: "The maximum item size in
    # DynamoDB is 400 KB, which includes both attribute name binary length (UTF-8 length) and
    # attribute value lengths"; sizes per "DynamoDB item sizes and formats".
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
    # moto checks its own estimate against 405,000 bytes, so it refused items AWS accepts.
    "dynamodb.item_bytes": Limit(400 * KB, HERE),
    # "BatchWriteItem" API reference: "as many as 25 put or delete requests"; "The total request
    # size exceeds 16 MB" rejects the batch.
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
    "dynamodb.BatchWriteItem.requests": Limit(25, HERE),
    "dynamodb.BatchWriteItem.request_bytes": Limit(16 * MB, HERE),
    # "BatchGetItem" API reference: "as many as 100 items"; "A single operation can retrieve up
    # to 16 MB of data"; past it the rest is returned in UnprocessedKeys.
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
    # moto checks the count itself but words the per-table error differently; checked here
    # first with DynamoDB's words. moto returns UnprocessedKeys past 16 MB itself (at this value).
    "dynamodb.BatchGetItem.keys": Limit(100, HERE),
    "dynamodb.BatchGetItem.response_bytes": Limit(16 * MB, MOTO),
    # "TransactWriteItems" API reference: "groups up to 100 action requests"; "The aggregate
    # size of the items in the transaction cannot exceed 4 MB."
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
    # moto checks the count itself but with another message; checked here first with DynamoDB's.
    "dynamodb.TransactWriteItems.actions": Limit(100, HERE),
    "dynamodb.TransactWriteItems.total_bytes": Limit(4 * MB, HERE),
    # "TransactGetItems" API reference: "groups up to 100 Get actions".
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html
    # moto checks it at 25 (the quota before September 2022); set to this value.
    "dynamodb.TransactGetItems.actions": Limit(100, HERE),
}


def limit(name: str) -> int:
    return LIMITS[name].value


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _blob_bytes(value: Any) -> int:
    """A binary value's raw length: bytes as they are, a string as the base64 it is."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    text = str(value)
    return len(text) * 3 // 4 - text[-2:].count("=")


# ---- EventBridge ----------------------------------------------------------------------------


def put_events_entry_size(entry: dict) -> int:
    """A PutEventsRequestEntry's size, as "Calculating ... PutEvents event entry size" says."""
    size = 14 if entry.get("Time") is not None else 0
    size += utf8(entry.get("Source") or "") + utf8(entry.get("DetailType") or "")
    size += utf8(entry.get("Detail") or "")
    size += sum(utf8(r) for r in entry.get("Resources") or [] if r is not None)
    return size


# ---- SQS ------------------------------------------------------------------------------------


def sqs_message_size(body: str, attributes: dict | None) -> int:
    """A message's size: its body and each attribute's name, data type and value."""
    size = utf8(body or "")
    for name, attribute in (attributes or {}).items():
        size += utf8(name) + utf8(attribute.get("DataType") or "")
        if attribute.get("StringValue") is not None:
            size += utf8(attribute["StringValue"])
        if attribute.get("BinaryValue") is not None:
            size += _blob_bytes(attribute["BinaryValue"])
    return size


# ---- DynamoDB -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*")


def number_size(literal: str) -> int:
    """A number's size: 1 byte, plus 1 per two significant digits on each side of the point
    (rounded up), plus 1 if negative; the exponent is not counted. The guide's "1 byte per two
    significant digits plus 1 byte" is approximate; this is the rule measured against DynamoDB
    byte by byte (nubo-db/dynamodb-conformance, src/item-size.ts)."""
    m = _NUMBER.fullmatch(literal)
    if m is None or not (m[2] or m[3]):
        return utf8(literal)
    sign, int_text, frac_text, exponent = m[1], m[2], m[3] or "", m[4]
    digits = int_text + frac_text
    if not digits.strip("0"):
        return 1
    point = len(int_text) + int(exponent or 0)
    if point <= 0:
        int_part, frac_part = "", "0" * -point + digits
    elif point >= len(digits):
        int_part, frac_part = digits + "0" * (point - len(digits)), ""
    else:
        int_part, frac_part = digits[:point], digits[point:]
    int_part, frac_part = int_part.lstrip("0"), frac_part.rstrip("0")
    int_digits = len(int_part) if frac_part else len(int_part.rstrip("0"))
    frac_digits = len(frac_part) if int_part else len(frac_part.lstrip("0"))
    return 1 + math.ceil(int_digits / 2) + math.ceil(frac_digits / 2) + (sign == "-")


def value_size(value: Any) -> int:
    """An attribute value's size per "DynamoDB item sizes and formats": a request's
    `{"S": ...}` or moto's stored DynamoType alike. A List or Map costs 3 bytes plus 1 per
    element, a Map's element its name too."""
    kind = getattr(value, "type", None)
    if kind is not None:
        inner = value.value
    elif isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
    else:
        return utf8(str(value))
    if kind == "S":
        return utf8(inner)
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return _blob_bytes(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(utf8(v) for v in inner)
    if kind == "NS":
        return sum(number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(_blob_bytes(v) for v in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(utf8(k) + value_size(v) + 1 for k, v in inner.items())
    return utf8(str(inner))


def item_size(attributes: dict) -> int:
    """An item's size: each attribute's name (UTF-8) plus its value."""
    return sum(utf8(name) + value_size(value) for name, value in attributes.items())
