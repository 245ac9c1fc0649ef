"""The audit log has a lifetime too (policy §9, ``retention.own_records.audit_log_months``).

``prune_audit_log`` deletes the entries older than the policy allows, oldest first, in chunks
(each chunk one transaction). A chunk deletes a run of entries ``1..K`` (or ``C+1..K`` after an
earlier cut ``C``) and, in the same transaction, writes a signed ``AuditCheckpoint`` holding the
number and hash of entry ``K`` and an audit entry ``prune`` naming ``K``. ``tillit audit
verify`` then starts the chain at the newest checkpoint: it proves every remaining entry, and
still reports an entry deleted without a checkpoint (the first remaining entry must follow a
checkpoint whose signature holds).

Only entries made before the cutoff go, and only a run from the oldest: the cut stops at the
first entry that is still within its period, and the newest entry (the head, which the next
writer chains to) always stays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils.crypto import constant_time_compare, salted_hmac

from tillit import policy
from tillit.audit import services
from tillit.audit.chain import checkpoint_message
from tillit.audit.models import AuditCheckpoint, AuditEntry
from tillit.core.actors import Actor
from tillit.policy import retention as retention_rules

_SALT = "tillit.audit.checkpoint"
PRUNE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tillit:audit-prune").digest()[:8], "big", signed=True)
CHUNK = 10_000


@dataclass
class PruneSummary:
    pruned: int = 0
    chunks: int = 0
    cutoff: dt.datetime | None = None
    through_sequence: int | None = None


def sign(message: str, *, secret: str | bytes | None = None) -> str:
    return salted_hmac(_SALT, message, secret=secret or settings.SECRET_KEY, algorithm="sha256").hexdigest()


def is_signed(checkpoint: AuditCheckpoint) -> bool:
    """Whether the checkpoint's signature holds under the secret key (or a fallback key)."""
    message = checkpoint_message(
        through_sequence=checkpoint.through_sequence,
        through_hash=checkpoint.through_hash,
        entries=checkpoint.entries,
        pruned_at=checkpoint.pruned_at,
    )
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(sign(message, secret=key), checkpoint.signature) for key in keys)


def prune_audit_log(*, actor: Actor, now: dt.datetime, chunk: int = CHUNK) -> PruneSummary:
    """Delete the audit entries past the policy's period, ``chunk`` entries per transaction,
    each chunk behind a signed checkpoint and recorded in the chain (``prune``)."""
    cutoff = retention_rules.audit_log_cutoff(policy.current(), now)
    summary = PruneSummary(cutoff=cutoff)
    while True:
        with transaction.atomic():
            _one_pruner_at_a_time()
            through = _next_cut(cutoff=cutoff, chunk=chunk)
            if through is None:
                break
            last = AuditEntry.objects.filter(sequence=through).values("hash", "at").get()
            deleted, _ = AuditEntry.objects.filter(sequence__lte=through).delete()
            message = checkpoint_message(
                through_sequence=through, through_hash=last["hash"], entries=deleted, pruned_at=now
            )
            AuditCheckpoint.objects.create(
                through_sequence=through,
                through_hash=last["hash"],
                through_at=last["at"],
                entries=deleted,
                cutoff=cutoff,
                pruned_at=now,
                signature=sign(message),
            )
            # Appended at the head, after the deletion: the chain lock is taken last (rule 15).
            services.record(actor=actor, now=now, action="prune", subject_type="audit_log", subject_id=through)
        summary.pruned += deleted
        summary.chunks += 1
        summary.through_sequence = through
    return summary


def _one_pruner_at_a_time() -> None:
    """Two prunes never cut at the same place: on PostgreSQL a transaction-level advisory lock
    (only pruning takes it, so no writer of the chain ever waits on it); on SQLite the write
    lock of the IMMEDIATE transaction already serialises them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PRUNE_LOCK_KEY])


def _next_cut(*, cutoff: dt.datetime, chunk: int) -> int | None:
    """The number of the last entry the next chunk deletes, or None when nothing is due: at
    most ``chunk`` entries from the oldest, never an entry made at or after ``cutoff`` or any
    entry after it, and never the head."""
    bounds = AuditEntry.objects.aggregate(first=Min("sequence"), head=Max("sequence"))
    first, head = bounds["first"], bounds["head"]
    if first is None or first >= head:
        return None
    kept = AuditEntry.objects.filter(at__gte=cutoff).aggregate(first=Min("sequence"))["first"]
    limit = min(head, kept if kept is not None else head) - 1
    through = min(limit, first + chunk - 1)
    return through if through >= first else None


def checkpoint_before(sequence: int) -> str | None:
    """The hash the entry numbered ``sequence`` must follow when every entry before it was
    pruned: the newest checkpoint's, if it ends right before ``sequence`` and its signature
    holds; else None (entries were deleted without a checkpoint, or the checkpoint is forged)."""
    checkpoint = AuditCheckpoint.objects.filter(through_sequence=sequence - 1).first()
    if checkpoint is None or not is_signed(checkpoint):
        return None
    return checkpoint.through_hash


def last_proven_cut() -> int:
    """The number of the last entry pruned behind a checkpoint that verifies (0 if none)."""
    for checkpoint in AuditCheckpoint.objects.order_by("-through_sequence").iterator():
        if is_signed(checkpoint):
            return checkpoint.through_sequence
    return 0
