"""Staff users and the API clients that act for them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A staff member. ``role`` is a role key from the policy file (§10); it decides what the
    user may see, through the read gate. The policy, not this model, lists the roles."""

    role = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        db_table = "accounts_user"


class ApiClient(models.Model):
    """A token for a program that uses the JSON API on behalf of a staff user (and so with that
    user's role). Only a SHA-256 of the token is stored; the token is shown once, at creation."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_clients")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="accounts_apiclient_unique_user_name"),
        ]

    def __str__(self) -> str:
        return f"API client {self.name}"


class StaffHandover(models.Model):
    """The record of a leaver's work handed to a colleague (§16): how many person records,
    logged emails and open dialogues changed hands. Ids and counts, no personal data."""

    leaver = models.ForeignKey(User, on_delete=models.PROTECT, related_name="handovers_given")
    successor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="handovers_received")
    handed_over_at = models.DateTimeField()
    counts = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"Handover #{self.pk}"


class MailboxReview(models.Model):
    """A staff member's yearly confirmation that they reviewed their mailbox and deleted what
    is no longer needed (§16)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="mailbox_reviews")
    reviewed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "reviewed_at"], name="accounts_review_user_idx")]

    def __str__(self) -> str:
        return f"Mailbox review #{self.pk}"


class MailboxReviewReminder(models.Model):
    """A reminder that a staff member's yearly mailbox review is due on ``due_at`` (§16): claimed
    (the row is written and committed) before the email goes, so each due date gets one
    reminder however many workers run the job; ``sent_at`` once the email went."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="mailbox_reminders")
    due_at = models.DateTimeField()
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "due_at"], name="accounts_reminder_once_per_due_date"),
        ]

    def __str__(self) -> str:
        return f"Mailbox review reminder #{self.pk}"
