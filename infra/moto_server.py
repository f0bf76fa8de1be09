"""moto server with DynamoDB writes made atomic, as DynamoDB's are.

moto serves requests on threads and checks a write's condition and applies the write in
two steps, so two concurrent conditional writes (or transactions) can both pass their
condition. Real DynamoDB never lets that happen, and the product's uniqueness guarantees
(one tenant per company, one ticket per alert, one claim) rely on it. Serialising the
writes here keeps the test double faithful; everything else stays concurrent (SQS long
polls must not block the server).
"""
import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = threading.RLock()

for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item"):
    _original = getattr(DynamoDBBackend, _name)

    @functools.wraps(_original)
    def _serialised(self, *args, _original=_original, **kwargs):
        with _WRITES:
            return _original(self, *args, **kwargs)

    setattr(DynamoDBBackend, _name, _serialised)

if __name__ == "__main__":
    sys.exit(main())
