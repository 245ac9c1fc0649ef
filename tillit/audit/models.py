"""The audit log: who read, exported or changed what, when, and for which purpose.

Entries hold ids and field names, never personal values. They are only ever inserted
(``tillit.audit.services.record`` and ``record_many``); nothing in the code updates them, and
only ``tillit.audit.pruning`` deletes them, past the policy's period and behind a signed
``AuditCheckpoint``. Each entry is numbered (``sequence``: 1, 2, 3 ... without gaps) and hash-chained to the
one before it (``prev_hash``, ``hash``; see ``tillit.audit.chain``), so ``tillit audit verify``
detects an edited, deleted or reordered entry.
"""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One audited action."""

    at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=100)
    # A plain id, not a foreign key: the log outlives the staff accounts it names.
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_role = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=40)
    purpose = models.CharField(max_length=40, blank=True)
    subject_type = models.CharField(max_length=40)
    subject_id = models.BigIntegerField(null=True, blank=True)
    fields = models.JSONField(default=list, blank=True)
    # The chain: assigned by the service under a lock, in insertion order.
    sequence = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="audit_subject_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.subject_type}#{self.subject_id} by {self.actor_label}"


class LedgerSeal(models.Model):
    """The seal of one entry of an append-only ledger (the consent ledger, the cookie choices,
    the disclosure ledger; ``tillit.audit.ledgers``): a keyed hash (HMAC-SHA256) of the entry's
    content, its id, its place in its scope's chain (``seq``: 1, 2, 3 ... per person, browser,
    partner or disclosure) and the seal before it. Sealed in the transaction that writes the
    entry; never updated or deleted (the database refuses both), so a seal outlives an erased
    entry and keeps the chain whole. Holds ids and hashes, never personal data."""

    ledger = models.CharField(max_length=20)
    entry_id = models.BigIntegerField()
    scope = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    prev_seal = models.CharField(max_length=64)
    seal = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ledger", "entry_id"], name="audit_ledgerseal_unique_entry"),
            models.UniqueConstraint(fields=["ledger", "scope", "seq"], name="audit_ledgerseal_unique_place"),
        ]

    def __str__(self) -> str:
        return f"Seal of {self.ledger} #{self.entry_id}"


class LedgerRemoval(models.Model):
    """The mark an erasure (or a merge, which copies the entries first) leaves for a ledger
    entry it deletes: the database lets a consent ledger entry be deleted only once its mark is
    written. ``mark`` is a keyed hash of the rest, so it cannot be made without the key; never
    updated or deleted."""

    ledger = models.CharField(max_length=20)
    entry_id = models.BigIntegerField()
    scope = models.CharField(max_length=64)
    reason = models.CharField(max_length=40)
    removed_at = models.DateTimeField()
    mark = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ledger", "entry_id"], name="audit_ledgerremoval_unique_entry")]

    def __str__(self) -> str:
        return f"Removal of {self.ledger} #{self.entry_id}"


class AuditCheckpoint(models.Model):
    """A cut in the audit log: every entry up to ``through_sequence`` was pruned (past the
    policy's ``retention.own_records.audit_log_months``), and this row keeps the hash of the
    last one, so ``tillit audit verify`` proves the remaining chain from here. ``signature`` is
    an HMAC of the cut under the server's secret key: a row forged to hide deleted entries does
    not verify. Only ever inserted, by ``tillit.audit.pruning.prune_audit_log``."""

    through_sequence = models.BigIntegerField(unique=True)
    through_hash = models.CharField(max_length=64)
    through_at = models.DateTimeField()
    entries = models.PositiveIntegerField()
    cutoff = models.DateTimeField()
    pruned_at = models.DateTimeField()
    signature = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"Audit checkpoint through #{self.through_sequence}"
