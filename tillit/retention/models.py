"""Erasure receipts and the notices owed to recipients after an erasure (GDPR art. 19)."""

from __future__ import annotations

import uuid

from django.db import models


class ErasureReceipt(models.Model):
    """Proof that a person was erased, holding no personal data: the person's pseudonymous id,
    why and under which rule, how many rows went from each table, and keyed hashes of the
    identifiers (so a restored backup can erase the same person again, tillit restore)."""

    pseudonym = models.UUIDField(db_index=True)
    # The erasure run the receipt belongs to (one erase_person, or one batch of the sweep).
    batch = models.UUIDField(db_index=True, null=True, blank=True)
    erased_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=20)
    rule = models.CharField(max_length=40, blank=True)
    counts = models.JSONField(default=dict)
    actor_label = models.CharField(max_length=100)
    identifier_digests = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"Erasure receipt {self.pseudonym}"


class ErasureNotice(models.Model):
    """Erasures that a processor or partner who holds the data must be told of (GDPR art. 19,
    28(3)(g)): one notice per erasure run and recipient, naming the run's receipts (their
    pseudonyms, never personal data); retried until acknowledged (the sharing issue adds the
    partners' channels)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"

    batch = models.UUIDField(db_index=True, default=uuid.uuid4)
    people = models.PositiveIntegerField(default=1)
    recipient_kind = models.CharField(max_length=20)
    recipient_key = models.CharField(max_length=60)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Erasure notice to {self.recipient_kind} {self.recipient_key}"


class JournalEntry(models.Model):
    """One change a restored backup must not lose: an erasure receipt, a suppression entry, a
    consent ledger entry (given, withdrawn, objected), a subscription opened or closed, or a choice
    made in the cookie banner. The
    database writes it (triggers, ``tillit.retention.journal``) in the transaction of the
    change, so no path can forget it. It holds no data, only which row changed, and, on
    PostgreSQL, the id of the transaction that changed it: a backup records the snapshot it was
    taken in, and the journal since the backup is every entry that snapshot could not see
    (commit order, not the clock). On SQLite, where one writer commits at a time, the entry's
    id is already in commit order."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=12)
    ref_id = models.BigIntegerField()
    txid = models.BigIntegerField(null=True, blank=True, db_index=True)
    # A marketing send's claim (kind "claim") on PostgreSQL: what the claiming transaction
    # could see when it wrote the claim, so ``tillit verify`` can tell, in commit order,
    # whether an objection had committed before it.
    snapshot = models.TextField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "ref_id"], name="retention_journal_ref_idx")]

    def __str__(self) -> str:
        return f"Journal entry #{self.pk} ({self.kind})"
