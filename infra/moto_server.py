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


class _CopyTablesByReference:
    """moto's `copy` as its DynamoDB backend sees it: a table is not copied (the transaction
    below keeps its items instead); anything else is copied as before."""

    @staticmethod
    def deepcopy(value, *args, **kwargs):
        if isinstance(value, Table):
            return value
        return _real_deepcopy(value, *args, **kwargs)


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
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _put_back(named)
        raise


DynamoDBBackend.transact_write_items = _transact_by_item


# ---- EventBridge: input paths parsed once ---------------------------------------------------

import jsonpath_ng.ext as _jsonpath_ext  # noqa: E402

_jsonpath_ext.parse = functools.lru_cache(maxsize=256)(_jsonpath_ext.parse)

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
