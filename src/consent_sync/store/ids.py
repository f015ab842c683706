"""Time-ordered ids for the rows the store creates in bulk (subjects).

A random (version 4) UUID lands each new subject at a random place in every B-tree keyed by it:
the subjects' primary key, and `(subject_id, ...)` of canonical states and ledger rows. Once
those indexes outgrow the database's page cache, each insert of a backfill reads pages from all
over them, and the cost per record grows with the store (docs/performance.md, "1,000,000
contacts per CRM"). A version 7 UUID (RFC 9562, section 5.7) starts with the Unix time in
milliseconds, so the subjects of one backfill are created at the right edge of those indexes,
as an auto-increment key would be, and its other 74 bits are random: ids are still not to be
guessed. An id tells when its subject was created, which the store shows anyway (`created_at`).
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62


def uuid7() -> uuid.UUID:
    """A new version 7 UUID: 48 bits of Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits; 12 + 62 are used
    rand_a = (random >> 62) & 0xFFF
    rand_b = random & ((1 << 62) - 1)
    return uuid.UUID(
        int=(millis & ((1 << 48) - 1)) << 80 | _VERSION_7 | rand_a << 64 | _VARIANT | rand_b
    )
