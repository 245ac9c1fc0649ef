"""Background tasks of retention; they only call services."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.retention import services


@task()
def sweep_past_deadline() -> dict[str, int]:
    """The daily sweep (§9): erase everyone whose deadline has passed."""
    summary = services.sweep(actor=Actor.system("daily-sweep"), now=timezone.now())
    return {"erased": summary.erased, "batches": summary.batches}


@task()
def prune_own_records() -> dict[str, int]:
    """Daily: our own proof past its period goes too (§9, retention.own_records): audit entries
    (behind a signed checkpoint) and erasure receipts."""
    from tillit.audit.pruning import prune_audit_log
    from tillit.retention.pruning import prune_erasure_receipts

    now = timezone.now()
    entries = prune_audit_log(actor=Actor.system("daily-prune"), now=now)
    receipts = prune_erasure_receipts(actor=Actor.system("daily-prune"), now=now)
    return {"audit_entries": entries.pruned, "erasure_receipts": receipts.pruned}
