"""Erasure receipts have a lifetime too (policy §9, ``retention.own_records.erasure_receipt_months``).

A receipt proves an erasure and lets a restored backup erase the person again (``tillit
restore`` re-applies the receipts written since the backup). Past the policy's period (longer
than any backup is kept, and than a claim can be raised) it has done both jobs, and
``prune_erasure_receipts`` deletes it: oldest first, ``chunk`` receipts per transaction, each
chunk recorded in the audit log (``prune``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.policy import retention as retention_rules
from tillit.retention.models import ErasureReceipt

CHUNK = 5_000


@dataclass
class ReceiptPruneSummary:
    pruned: int = 0
    chunks: int = 0
    cutoff: dt.datetime | None = None


def prune_erasure_receipts(*, actor: Actor, now: dt.datetime, chunk: int = CHUNK) -> ReceiptPruneSummary:
    """Delete the receipts of erasures made before the policy's cutoff, in chunks."""
    cutoff = retention_rules.erasure_receipt_cutoff(policy.current(), now)
    summary = ReceiptPruneSummary(cutoff=cutoff)
    while True:
        with transaction.atomic():
            ids = list(
                ErasureReceipt.objects.filter(erased_at__lt=cutoff)
                .order_by("erased_at", "pk")
                .values_list("pk", flat=True)[:chunk]
            )
            if not ids:
                break
            deleted, _ = ErasureReceipt.objects.filter(pk__in=ids).delete()
            audit.record(actor=actor, now=now, action="prune", subject_type="erasure_receipts", subject_id=None)
        summary.pruned += deleted
        summary.chunks += 1
    return summary
