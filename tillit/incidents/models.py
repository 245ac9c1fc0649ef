"""The breach register (GDPR art. 33(5)): every personal data breach, its facts, the 72-hour
clock's outcome (the notification to the supervisory authority, or the reasons it came late)
and the people it affected, each with the notice sent to them (art. 34).

Append-only by construction: the facts of an incident are written once when it is recorded
(a later finding is recorded as a new incident that names the first); the notification to the
authority is recorded once; people are only ever added. Every write is audited.

Every field is classified in ``tillit.policy.classification``. The free texts describe the
breach, not the people in it (the form says so); the affected people are links to ``Person``
(``SUBJECT``): erasing a person deletes their row here, as everywhere else (house rule 17).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tillit.people.models import Person


class Incident(models.Model):
    """One personal data breach, as the privacy officer recorded it."""

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A short title without personal data, e.g. "Laptop stolen from car".
    title = models.CharField(max_length=200)
    # Art. 33(3)(a): the nature of the breach (what happened).
    description = models.TextField()
    occurred_at = models.DateTimeField(null=True, blank=True)
    # When we became aware: the 72-hour clock runs from here (art. 33(1)).
    aware_at = models.DateTimeField(db_index=True)
    # Art. 33(3)(a): the categories of personal data concerned (keys of the policy's categories).
    categories = models.JSONField(default=list)
    # Art. 33(3)(a): the approximate number of people concerned.
    approximate_people = models.PositiveIntegerField()
    # Art. 33(3)(c): the likely consequences.
    consequences = models.TextField()
    # Art. 33(3)(d): the measures taken or proposed, including to mitigate adverse effects.
    measures = models.TextField()
    recorded_at = models.DateTimeField()
    recorded_by_id = models.BigIntegerField(null=True, blank=True)
    recorded_by_label = models.CharField(max_length=100)
    # Art. 33(1): the notification to the supervisory authority (once), and for a late one the reasons.
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    authority_reference = models.CharField(max_length=100, blank=True)
    late_reason = models.TextField(blank=True)
    notification_recorded_at = models.DateTimeField(null=True, blank=True)
    # Art. 33(1): no notification when the breach is unlikely to result in a risk; the reasons, once.
    no_risk_reason = models.TextField(blank=True)
    no_risk_recorded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Incident #{self.pk}"


class IncidentUpdate(models.Model):
    """Information found after the incident was recorded (art. 33(4): provided in phases),
    appended, never edited; shown with the incident and in the report."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="updates")
    text = models.TextField()
    recorded_at = models.DateTimeField()
    recorded_by_label = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"IncidentUpdate #{self.pk}"


class AffectedPerson(models.Model):
    """A person the breach affected, how they were found (the question asked of the audit log
    or the disclosure ledger, no personal data), and the art. 34 notice to them: asked for
    (``pending``), claimed by a worker (``sending``, with ``claimed_at``), ``sent`` (with its
    fixed Message-ID, so a repeated attempt can be de-duplicated by the receiver)."""

    class NoticeStatus(models.TextChoices):
        NONE = "", _("Not asked for")
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        UNREACHABLE = "unreachable", _("No email address")

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="affected")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    found_by = models.CharField(max_length=200)
    added_at = models.DateTimeField()
    notice_status = models.CharField(max_length=12, choices=NoticeStatus.choices, default="", blank=True)
    notice_claimed_at = models.DateTimeField(null=True, blank=True)
    notice_message_id = models.CharField(max_length=200, blank=True)
    notice_sent_at = models.DateTimeField(null=True, blank=True)
    notice_language = models.CharField(max_length=5, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "person"], name="incidents_affected_unique_person")]
        indexes = [models.Index(fields=["incident", "notice_status"], name="incidents_affected_notice_idx")]

    def __str__(self) -> str:
        return f"AffectedPerson #{self.pk}"
