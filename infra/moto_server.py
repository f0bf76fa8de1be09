"""moto server made as strict as AWS where the product's guarantees depend on it.

1. DynamoDB writes are atomic, as DynamoDB's are. moto serves requests on threads and checks a
   write's condition and applies the write in two steps, so two concurrent conditional writes
   (or transactions) could both pass their condition. Real DynamoDB never lets that happen, and
   the product's uniqueness guarantees (one tenant per company, one ticket per alert, one claim)
   rely on it. Serialising the writes here keeps the test double faithful; everything else stays
   concurrent (SQS long polls must not block the server).

2. IAM is enforced on every request (INITIAL_NO_AUTH_ACTION_COUNT=0). The operator's keys
   `testing`/`testing` (what `acw`, the local stack's setup and the tests' fixtures use) belong to
   an administrator; each function runs with the keys of a user whose policy is its template
   role's (infra/local_iam.py makes them). Two corrections make moto judge as AWS does:
   - AWS has no `dynamodb:TransactWriteItems` action: it authorises each item of a transaction
     as PutItem, UpdateItem, DeleteItem or ConditionCheckItem (TransactGetItems as GetItem).
   - A denial is answered in the service's protocol (JSON services: 400 AccessDeniedException
     with the message naming the action), as AWS answers it, not as moto's generic XML.
   - Every decision is recorded (user, action, allowed or denied, on an index or not) in
     MOTO_IAM_RECORD, one JSON line per distinct decision, so that `local_iam.py check` can
     compare what each function used with what its role grants.

3. Routing a request to its service is memoised. moto lists its own package directory and
   matches every service's URL patterns on each request (a third of the server's time under
   the simulated month); the answer for a host never changes while the server runs.

4. DynamoDB reads (GetItem, BatchGetItem, Query, Scan) are answered with `json.dumps` of the
   result moto computed, instead of moto's generic shape-driven serializer, which took a third
   of the server's time on large query results. The body is the same JSON; a result that
   plain JSON cannot carry (binary attributes) still goes through moto's serializer.

5. A Query does not sort the whole table. moto starts every Query by listing all the table's
   items sorted by key, then keeps those of the partition (or the index key) asked for; as the
   table grows (the simulated month writes tens of thousands of items) that sort dominated the
   server's time. Here a table query lists only its partition, and an index query lists the
   items unsorted (moto sorts the matches by the index's keys, the table's keys breaking ties,
   so the result and its order are the same).

6. The per-request access log is off (werkzeug's logger at WARNING): it cost a twentieth of
   the server's time and nothing reads it.

7. A transaction keeps for its rollback only the items it names. moto deep-copies every
   table a transaction touches before applying it, so each transaction cost the whole table
   (a sixth of the server's time in a 50-company provisioning burst, and growing with the
   table). Only the named items can change, so they are copied and, when the transaction is
   cancelled, put back (or removed, when they did not exist); the result is the same.

8. EventBridge's input paths are parsed once. moto parses each rule target's JSONPath input
   paths for every event it routes, and each parse builds a new parser (a yacc table): a
   tenth of the server's time in a provisioning burst. The parsed paths are kept (an
   expression is not changed by matching).

9. AWS's size and count limits are enforced, as the service refuses them, from one table
   (infra/aws_limits.py, each row with the AWS page it comes from; a changed quota is one
   edit there). moto checks some of them itself; the rest are added here, in front of moto's
   handler, with the error the service returns in its own protocol:
   - EventBridge PutEvents: at most 10 entries (moto) and a total entry size, computed as
     EventBridge computes it (Time 14 bytes; Source, DetailType, Detail and each resource in
     UTF-8), under 256 KB: 400 ValidationException "Total size of the entries in the request
     is over the limit." for the whole request.
   - SQS SendMessage and SendMessageBatch: a message (body and attributes) of at most 256 KiB
     (InvalidParameterValue), a batch of at most 10 (moto) and 256 KiB in total
     (BatchRequestTooLong). moto allows 1 MiB.
   - DynamoDB: an item of at most 400 KB, sized as DynamoDB sizes it (names and values, a
     number by its significant digits, 3 bytes per list or map and 1 per element; moto
     refused at its own estimate of 405,000 bytes), on every write path: an update that
     would grow an item past it is undone, and in a transaction cancels it with the reason
     ValidationError. BatchWriteItem 25 requests, 16 MB and no oversized item (checked
     before anything is written); BatchGetItem 100 keys (moto answers past 16 MB with
     UnprocessedKeys itself); TransactWriteItems 100 actions and 4 MB; TransactGetItems 100
     (moto said 25). Errors are DynamoDB's ValidationException with its messages.
"""
import functools
import json
import logging
import os
import sys
import threading

os.environ.setdefault("INITIAL_NO_AUTH_ACTION_COUNT", "0")

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.exceptions import AccessDeniedError, JsonRESTError  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.iam.access_control import IAMRequestBase  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto import backends  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.dynamodb.responses import DynamoResult  # noqa: E402
from moto.server import main  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402

ADMIN_USER = "local-admin"
ADMIN_KEY = "testing"

_WRITES = threading.RLock()

# ---- Transactions: roll back the items named, not copies of whole tables ----------------

import copy as _copy  # noqa: E402

import moto.dynamodb.models as _dynamodb_models  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: E402

_real_deepcopy = _copy.deepcopy


_UPDATE = threading.local()


class _CopyTablesByReference:
    """moto's `copy` as its DynamoDB backend sees it: a table is not copied (the transaction
    below keeps its items instead); anything else is copied as before. The first copy an
    update makes (the item before it, moto's own) is kept for undoing an oversized update."""

    @staticmethod
    def deepcopy(value, *args, **kwargs):
        if isinstance(value, Table):
            return value
        copied = _real_deepcopy(value, *args, **kwargs)
        if getattr(_UPDATE, "wants_before", False):
            _UPDATE.wants_before = False
            _UPDATE.before = copied
        return copied


_dynamodb_models.copy = _CopyTablesByReference
_transact_write_items = DynamoDBBackend.transact_write_items


def _named_items(self, transact_items):
    """(table, hash key, range key, a copy of the item or None) for each item named."""
    named = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Key")
        if key is None and "Item" in op:
            key = {
                a: op["Item"][a]
                for a in (table.hash_key_attr, table.range_key_attr)
                if a and a in op["Item"]
            }
        if not key or table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = (
            DynamoType(key[table.range_key_attr])
            if table.range_key_attr and table.range_key_attr in key
            else None
        )
        current = table.get_item(hash_value, range_value)
        named.append((table, hash_value, range_value, _real_deepcopy(current)))
    return named


def _put_back(named):
    for table, hash_value, range_value, before in reversed(named):
        if table.range_key_attr:
            part = table.items.get(hash_value)
            if before is None:
                if part is not None:
                    part.pop(range_value, None)
                    if not part:
                        table.items.pop(hash_value, None)
            else:
                table.items.setdefault(hash_value, {})[range_value] = before
        elif before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before


def _transact_by_item(self, transact_items):
    named = _named_items(self, transact_items)
    _UPDATE.in_transaction = True
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _put_back(named)
        raise
    finally:
        _UPDATE.in_transaction = False


DynamoDBBackend.transact_write_items = _transact_by_item


# ---- EventBridge: input paths parsed once ---------------------------------------------------

import jsonpath_ng.ext as _jsonpath_ext  # noqa: E402

_jsonpath_ext.parse = functools.lru_cache(maxsize=256)(_jsonpath_ext.parse)

# ---- AWS's size and count limits (infra/aws_limits.py) -------------------------------------

import moto.dynamodb.responses as _dynamodb_responses  # noqa: E402
from moto.dynamodb.exceptions import (  # noqa: E402
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    MockValidationException,
)
from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.events.exceptions import ValidationException as _EventsValidation  # noqa: E402
from moto.events.responses import EventsHandler  # noqa: E402
from moto.sqs.exceptions import InvalidParameterValue, SQSException  # noqa: E402
from moto.sqs.responses import SQSResponse  # noqa: E402

sys.dont_write_bytecode = True  # no infra/__pycache__ beside the sources
from aws_limits import (  # noqa: E402
    MB,
    item_size,
    limit,
    put_events_entry_size,
    sqs_message_size,
    value_size,
)

_put_events = EventsHandler.put_events


def _put_events_within_limits(self):
    entries = self._get_param("Entries") or []
    # More entries than allowed: moto refuses them itself.
    if len(entries) <= limit("events.PutEvents.entries"):
        total = sum(put_events_entry_size(e) for e in entries)
        # "The total entry size must be less than 256KB."
        if total >= limit("events.PutEvents.total_entry_bytes"):
            raise _EventsValidation("Total size of the entries in the request is over the limit.")
    return _put_events(self)


EventsHandler.put_events = _put_events_within_limits

_send_message = SQSResponse.send_message
_send_message_batch = SQSResponse.send_message_batch


def _send_message_within_limits(self):
    queue = self.sqs_backend.get_queue(self._get_queue_name())
    allowed = min(int(queue.maximum_message_size), limit("sqs.SendMessage.message_bytes"))
    size = sqs_message_size(self._get_param("MessageBody"), self._get_param("MessageAttributes"))
    if size > allowed:
        raise InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {allowed} bytes."
        )
    return _send_message(self)


def _send_message_batch_within_limits(self):
    entries = self._get_param("Entries", []) or []
    # More entries than allowed: moto refuses them itself.
    if len(entries) <= limit("sqs.SendMessageBatch.entries"):
        total = sum(sqs_message_size(e.get("MessageBody"), e.get("MessageAttributes")) for e in entries)
        allowed = limit("sqs.SendMessageBatch.total_bytes")
        if total > allowed:
            raise SQSException(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {allowed} bytes. You have sent {total} bytes.",
            )
    return _send_message_batch(self)


SQSResponse.send_message = _send_message_within_limits
SQSResponse.send_message_batch = _send_message_batch_within_limits


# DynamoDB items: sized as DynamoDB sizes them, once per item built (moto re-summed the whole
# item for each attribute it added) and on each attribute an update sets.


def _build_item(self, hash_key, range_key, attrs):
    self.hash_key = hash_key
    self.range_key = range_key
    built = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(built, ((name, DynamoType(value)) for name, value in attrs.items()))
    if item_size(built) > limit("dynamodb.item_bytes"):
        raise ItemSizeTooLarge()
    self.attrs = built


def _set_attribute(self, name, value):
    existed, before = name in self, dict.get(self, name)
    dict.__setitem__(self, name, value)
    if item_size(self) > limit("dynamodb.item_bytes"):
        if existed:
            dict.__setitem__(self, name, before)
        else:
            dict.__delitem__(self, name)
        raise ItemSizeTooLarge()


Item.__init__ = _build_item
LimitedSizeDict.__setitem__ = _set_attribute

_NOT_TAKEN = object()
_update_item = DynamoDBBackend.update_item


class ValidationError(Exception):
    """An update grown too large inside a transaction. DynamoDB cancels the transaction with
    the reason code ValidationError (TransactWriteItems API reference, TransactionCanceled-
    Exception); moto names an action's reason after its exception's class, and would answer
    its own ValidationException for the whole request instead."""


def _update_within_item_limit(self, table_name, key, *args, **kwargs):
    """An update whose item ends up over the limit (a nested path moto does not size, or an
    action after others already applied) is undone and refused, as DynamoDB refuses it."""
    _UPDATE.wants_before, _UPDATE.before = True, _NOT_TAKEN
    try:
        item = _update_item(self, table_name, key, *args, **kwargs)
        oversized = item_size(item.attrs) > limit("dynamodb.item_bytes")
    except (ItemSizeTooLarge, ItemSizeToUpdateTooLarge):
        oversized = True
    finally:
        _UPDATE.wants_before = False
    before, _UPDATE.before = _UPDATE.before, _NOT_TAKEN
    if not oversized:
        return item
    if before is not _NOT_TAKEN:
        table = self.get_table(table_name)
        range_attr = table.range_key_attr
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[range_attr]) if range_attr and range_attr in key else None
        _put_back([(table, hash_value, range_value, before)])
    if getattr(_UPDATE, "in_transaction", False):
        raise ValidationError(ItemSizeToUpdateTooLarge.item_size_to_update_too_large_msg)
    raise ItemSizeToUpdateTooLarge()


DynamoDBBackend.update_item = _update_within_item_limit


def _java_list(kind: str, count: int) -> str:
    """A request list as DynamoDB echoes it in a validation error (Java's toString)."""
    return ", ".join(f"com.amazonaws.dynamodb.v20120810.{kind}@{0x10000001 + i:x}" for i in range(count))


_batch_write_item = DynamoHandler.batch_write_item
_batch_get_item = DynamoHandler.batch_get_item
_transact_write_response = DynamoHandler.transact_write_items


def _batch_write_within_limits(self):
    most = limit("dynamodb.BatchWriteItem.requests")
    tables = self.body.get("RequestItems") or {}
    for name, writes in tables.items():
        if len(writes) > most:
            echoed = _java_list("WriteRequest", len(writes))
            raise MockValidationException(
                f"1 validation error detected: Value '{{{name}=[{echoed}]}}' "
                "at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: "
                f"[Member must have length less than or equal to {most}, "
                "Member must have length greater than or equal to 1]"
            )
    if sum(len(writes) for writes in tables.values()) > most:
        raise MockValidationException("Too many items requested for the BatchWriteItem call")
    if len(self.raw_body or b"") > limit("dynamodb.BatchWriteItem.request_bytes"):
        most_bytes = limit("dynamodb.BatchWriteItem.request_bytes") // MB
        raise MockValidationException(f"The total request size exceeds {most_bytes} MB.")
    # DynamoDB rejects the whole batch for one oversized item; moto would write those before it.
    for writes in tables.values():
        for write in writes:
            item = (write.get("PutRequest") or {}).get("Item")
            if item is not None and item_size(item) > limit("dynamodb.item_bytes"):
                raise ItemSizeTooLarge()
    return _batch_write_item(self)


def _batch_get_within_limits(self):
    most = limit("dynamodb.BatchGetItem.keys")
    tables = self.body.get("RequestItems") or {}
    for name, wanted in tables.items():
        if len(wanted.get("Keys") or []) > most:
            raise MockValidationException(
                f"1 validation error detected: Value at 'RequestItems.{name}.member.Keys' "
                f"failed to satisfy constraint: Member must have length less than or equal to {most}"
            )
    return _batch_get_item(self)


def _transact_action_size(action: dict) -> int:
    """What an action adds to a transaction's size: a Put's item; another action's key (and an
    Update's values, a lower bound of what it writes)."""
    op = next(iter(action.values()), None) or {}
    if "Item" in op:
        return item_size(op["Item"])
    size = item_size(op.get("Key") or {})
    if "UpdateExpression" in op:
        size += sum(value_size(v) for v in (op.get("ExpressionAttributeValues") or {}).values())
    return size


def _transact_write_within_limits(self):
    most = limit("dynamodb.TransactWriteItems.actions")
    actions = self.body.get("TransactItems") or []
    if len(actions) > most:
        raise MockValidationException(
            f"1 validation error detected: Value '[{_java_list('TransactWriteItem', len(actions))}]' "
            "at 'transactItems' failed to satisfy constraint: "
            f"Member must have length less than or equal to {most}"
        )
    most_bytes = limit("dynamodb.TransactWriteItems.total_bytes")
    if sum(_transact_action_size(a) for a in actions) > most_bytes:
        raise MockValidationException(
            f"The aggregate size of the items in the transaction exceeds {most_bytes // MB} MB."
        )
    return _transact_write_response(self)


DynamoHandler.batch_write_item = _batch_write_within_limits
DynamoHandler.batch_get_item = _batch_get_within_limits
DynamoHandler.transact_write_items = _transact_write_within_limits
_dynamodb_responses.TRANSACTION_MAX_ITEMS = limit("dynamodb.TransactGetItems.actions")


for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item"):
    _original = getattr(DynamoDBBackend, _name)

    @functools.wraps(_original)
    def _serialised(self, *args, _original=_original, **kwargs):
        with _WRITES:
            return _original(self, *args, **kwargs)

    setattr(DynamoDBBackend, _name, _serialised)


# ---- Routing: memoised (the package's directories and a host's service never change) -----

_MODULES = frozenset(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _MODULES
_route = DomainDispatcherApplication.get_backend_for_host
DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=256)(_route)


# ---- DynamoDB reads: plain JSON bodies ------------------------------------------------------

_PLAIN_JSON_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
_serialize = DynamoResult.execute_result


def _execute_result(self, context):
    if context.operation_model.name in _PLAIN_JSON_READS:
        try:
            body = json.dumps(self.result, separators=(",", ":"))
        except TypeError:
            return _serialize(self, context)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
    return _serialize(self, context)


DynamoResult.execute_result = _execute_result


# ---- IAM: transactions judged per item, decisions recorded ---------------------------------

# What AWS authorises each kind of transaction item as.
_TRANSACT_ITEM_ACTIONS = {
    "dynamodb:TransactWriteItems": {
        "Put": "dynamodb:PutItem",
        "Update": "dynamodb:UpdateItem",
        "Delete": "dynamodb:DeleteItem",
        "ConditionCheck": "dynamodb:ConditionCheckItem",
    },
    "dynamodb:TransactGetItems": {"Get": "dynamodb:GetItem"},
}

_QUERY = threading.local()
_INDEX_QUERY = object()
_all_items = Table.all_items
_query = Table.query


def _query_items(self):
    """`Table.all_items` as a query needs it: the partition asked for, or (an index query)
    every item unsorted; anything else gets moto's sorted list."""
    wanted = getattr(_QUERY, "wanted", None)
    if wanted is None:
        return _all_items(self)
    if wanted is _INDEX_QUERY:
        parts = self.items.values()
    else:
        part = self.items.get(wanted)
        parts = [] if part is None else [part]
    if not self.range_key_attr:
        return list(parts)
    return [item for part in parts for item in part.values()]


def _fast_query(self, hash_key, *args, **kwargs):
    # moto's backend passes index_name as the eighth argument.
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    _QUERY.wanted = _INDEX_QUERY if index_name else hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _QUERY.wanted = None


Table.all_items = _query_items
Table.query = _fast_query
logging.getLogger("werkzeug").setLevel(logging.WARNING)

_RECORD_PATH = os.environ.get("MOTO_IAM_RECORD")
_RECORDED: set = set()
_RECORD_LOCK = threading.Lock()


def _on_index(request: IAMRequestBase) -> bool:
    """A DynamoDB read of a secondary index: AWS authorises it on the index's ARN, which
    moto does not match, so the record says so for `local_iam.py check`."""
    if request._action not in ("dynamodb:Query", "dynamodb:Scan"):
        return False
    try:
        return bool(json.loads(request._body or b"{}").get("IndexName"))
    except ValueError:
        return False


def _record(request: IAMRequestBase, action: str, allowed: bool) -> None:
    if not _RECORD_PATH:
        return
    arn = getattr(request._access_key, "arn", "")
    user = arn.rsplit("/", 1)[-1]
    entry = (user, action, allowed, _on_index(request))
    with _RECORD_LOCK:
        if entry in _RECORDED:
            return
        _RECORDED.add(entry)
        with open(_RECORD_PATH, "a", encoding="utf-8") as f:
            line = {"user": user, "action": action, "allowed": allowed, "index": entry[3]}
            f.write(json.dumps(line) + "\n")


class _JsonAccessDenied(JsonRESTError):
    code = 400


def _in_protocol(request: IAMRequestBase, action: str) -> Exception:
    """AccessDenied as the service answers it: JSON-protocol services (DynamoDB, Secrets
    Manager, EventBridge: requests with X-Amz-Target) send 400 AccessDeniedException."""
    message = (
        f"User: {request._access_key.arn} is not authorized to perform: {action} "
        f"because no identity-based policy allows the {action} action"
    )
    if request._headers.get("X-Amz-Target"):
        return _JsonAccessDenied("AccessDeniedException", message)
    return AccessDeniedError(user_arn=request._access_key.arn, action=action)


def _item_actions(request: IAMRequestBase) -> list:
    kinds = _TRANSACT_ITEM_ACTIONS.get(request._action)
    if kinds is None:
        return [request._action]
    try:
        items = json.loads(request._body or b"{}").get("TransactItems", [])
    except ValueError:
        items = []
    actions = sorted({kinds[k] for item in items for k in item if k in kinds})
    return actions or [request._action]


_check_action_permitted = IAMRequestBase.check_action_permitted


def _check_as_aws(self: IAMRequestBase, resource: str) -> None:
    transaction = self._action
    try:
        for action in _item_actions(self):
            self._action = action
            try:
                _check_action_permitted(self, resource)
            except AccessDeniedError as denied:
                _record(self, action, False)
                raise _in_protocol(self, action) from denied
            _record(self, action, True)
    finally:
        self._action = transaction


IAMRequestBase.check_action_permitted = _check_as_aws


def _seed_admin() -> None:
    """The operator: an administrator whose keys are `testing`/`testing`."""
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_user("us-east-1", ADMIN_USER)
    backend.put_user_policy(
        ADMIN_USER,
        "administrator",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    key = backend.create_access_key(ADMIN_USER)
    del backend.access_keys[key.physical_resource_id]
    key.access_key_id = ADMIN_KEY
    key.secret_access_key = ADMIN_KEY
    backend.access_keys[key.physical_resource_id] = key


if __name__ == "__main__":
    if _RECORD_PATH:
        open(_RECORD_PATH, "w", encoding="utf-8").close()
    _seed_admin()
    sys.exit(main())
