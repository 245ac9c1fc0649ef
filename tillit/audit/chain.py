"""The hash chain of the audit log: the canonical form of an entry and its hash.

Pure functions, no database. Each entry's ``hash`` is the SHA-256 (hex) of a canonical JSON
object holding the entry's content, its ``sequence`` and the ``hash`` of the entry before it
(``prev_hash``; the first entry follows ``GENESIS``). Editing, deleting or reordering any
entry therefore breaks the chain from that entry on.

The canonical form is a stored contract: every hash ever written was computed with it, so it
must never change (a new form would need a new, versioned field in the object).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The prev_hash of the first entry.
GENESIS = "0" * 64

# The columns whose values make up an entry's content, in the order they are read back.
CONTENT_FIELDS = (
    "at",
    "actor_kind",
    "actor_label",
    "actor_user_id",
    "actor_role",
    "action",
    "purpose",
    "subject_type",
    "subject_id",
    "fields",
)


def canonical_at(at: dt.datetime) -> str:
    """The time of an entry as ISO 8601 in UTC with microseconds (what both databases store)."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _canonical_fields(fields: object) -> object:
    # Written as a sorted list of names; anything else (tampering) is hashed as it is, so it
    # cannot match.
    if isinstance(fields, list | tuple) and all(isinstance(name, str) for name in fields):
        return sorted(fields)
    return fields


def entry_hash(content: Mapping[str, Any], *, sequence: int, prev_hash: str) -> str:
    """The SHA-256 (hex) of one entry's canonical JSON, chained to ``prev_hash``. ``content``
    maps each name in ``CONTENT_FIELDS`` to the entry's value (extra keys are ignored)."""
    document = {name: content[name] for name in CONTENT_FIELDS}
    document["at"] = canonical_at(content["at"])
    document["fields"] = _canonical_fields(content["fields"])
    document["sequence"] = sequence
    document["prev_hash"] = prev_hash
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def checkpoint_message(*, through_sequence: int, through_hash: str, entries: int, pruned_at: dt.datetime) -> str:
    """What a pruning checkpoint's signature covers: the cut (the last pruned entry's number
    and hash), how many entries went, and when."""
    return f"tillit-audit-checkpoint:1:{through_sequence}:{through_hash}:{entries}:{canonical_at(pruned_at)}"
