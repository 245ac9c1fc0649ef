"""What a policy version is (§14): its facts, independent of how the file is laid out.

A published notice version is identified by what it means, not only by what it prints: the
texts, the purposes it names and every fact of the policy it was rendered from. Two files that
differ only in comments or layout have the same facts; a purpose renamed under the same label,
a role's access widened or a retention period changed are new facts, so a new version.

``in_force`` picks, from the published policy versions, the one that held at a moment: the
verifier judges each read, send and disclosure by it (a purpose removed later does not make
earlier reads wrong; a read forbidden then stays reported).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tillit.policy.schema import Policy

T = TypeVar("T")

# Fields of ``Policy`` that say where it came from, not what it says.
_NOT_FACTS = frozenset({"digest", "source_text"})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _NOT_FACTS}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def facts(policy: Policy) -> dict[str, Any]:
    """Every fact of the policy as plain JSON-able data (keys sorted when serialised)."""
    return _plain(policy)  # type: ignore[no-any-return]


def facts_digest(policy: Policy) -> str:
    """SHA-256 of the policy's facts as canonical JSON (sorted keys, UTF-8, no spaces)."""
    canonical = json.dumps(facts(policy), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def notice_digest(texts: Mapping[str, str], *, purposes: Sequence[str], facts_digest: str) -> str:
    """The identity of a notice version: SHA-256 of its texts per language, the purposes it
    names (sorted) and the digest of the policy's facts, as canonical JSON."""
    canonical = json.dumps(
        {"texts": dict(texts), "purposes": sorted(purposes), "facts": facts_digest},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def in_force(versions: Sequence[tuple[dt.datetime, T]], at: dt.datetime | None, *, fallback: T) -> T:
    """The version in force at ``at``: the newest one published at or before it. Before the
    first publication the first version holds (the rules the system started with); with no
    version published at all, ``fallback`` (the policy loaded now). ``versions`` are sorted
    by their publication moment."""
    if not versions:
        return fallback
    if at is None:
        return versions[-1][1]
    index = bisect.bisect_right([published for published, _ in versions], at) - 1
    return versions[max(index, 0)][1]
