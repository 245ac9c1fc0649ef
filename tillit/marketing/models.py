"""Newsletters, subscription requests (double opt-in), campaigns, per-recipient send records and
the bounce and complaint notices received (policy §7, §8, §9).

Every field is classified in ``tillit.policy.classification``. Writes go through
``marketing.services``; the consent ledger and the subscriptions themselves stay in
``tillit.consent`` (one home): this app holds what marketing needs around them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tillit.people.models import Person


class NewsletterList(models.Model):
    """A newsletter people may choose to receive (§7 "the email list you have chosen"). Its
    ``key`` is what ``consent.Subscription.newsletter`` holds; name and description are given
    in every language of the policy; ``purpose`` is a marketing purpose of the policy whose
    email basis is consent."""

    key = models.SlugField(max_length=60, unique=True)
    name = models.JSONField(default=dict)  # language -> name
    description = models.JSONField(default=dict)  # language -> description
    purpose = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    archived_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Newsletter {self.key}"


class SubscriptionRequest(models.Model):
    """A request to subscribe, waiting for the click on the link sent to the address (double
    opt-in). Holds the address until then (the person is registered only on the click), the
    exact wording shown and the evidence; ``confirmed_at`` makes the link single-use.
    Unconfirmed requests are deleted when their link expires."""

    newsletter = models.ForeignKey(NewsletterList, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=5)
    source_kind = models.CharField(max_length=30)
    wording = models.TextField()
    requested_at = models.DateTimeField(db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    evidence_ip = models.CharField(max_length=45, blank=True)
    evidence_user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"SubscriptionRequest #{self.pk}"


class Campaign(models.Model):
    """A marketing email: subject and body (plain text and HTML) per language, to a
    newsletter's subscribers or to a segment of the people we may email for direct marketing.
    Sent in the background, in batches, one ``SendRecord`` per recipient."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=40)
    newsletter = models.ForeignKey(NewsletterList, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # A segment: people interested in this product (empty: everyone the rule allows).
    interest = models.CharField(max_length=100, blank=True)
    # What it markets: product and product category keys of the policy ([products]); the
    # existing-customer exception reaches only customers who bought a similar product.
    products = models.JSONField(default=list, blank=True)
    subjects = models.JSONField(default=dict)  # language -> subject
    bodies_text = models.JSONField(default=dict)  # language -> plain text
    bodies_html = models.JSONField(default=dict)  # language -> HTML (optional)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Campaign #{self.pk}"


class SendRecord(models.Model):
    """One recipient of one campaign (unique): the idempotency key of the send. Written before
    anything is sent; claimed (``sending``) just before the message's last line goes to the
    SMTP server, ``sent`` after the server's 250 (see ``marketing.delivery``). ``message_id``
    is the Message-ID of that one email."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Handed to the mail server, not yet confirmed")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Not sent (no longer allowed)")
        FAILED = "failed", _("Refused by the mail server")
        BOUNCED = "bounced", _("Bounced")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=30, blank=True)
    # Why the rule allowed this message when it was handed over: the reason code of the rule's
    # Eligibility (consent, role_address, existing_customer, legitimate_interest, ...).
    # Eligibility.recorded: the exception names its order ("existing_customer:order=10042").
    basis = models.CharField(max_length=80, blank=True, db_default="")
    message_id = models.CharField(max_length=100, unique=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "person"], name="marketing_send_unique_campaign_person")
        ]
        indexes = [models.Index(fields=["campaign", "status", "id"], name="marketing_send_progress_idx")]

    def __str__(self) -> str:
        return f"SendRecord #{self.pk}"


class DeliveryNotice(models.Model):
    """A bounce (RFC 3464 DSN) or complaint (RFC 5965 ARF) we received. Holds a keyed hash of
    the address, not the address (it goes on the suppression list, which is what stops sends)."""

    class Kind(models.TextChoices):
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Complaint")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    digest = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, blank=True)  # the DSN status (5.1.1) or ARF type
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"DeliveryNotice #{self.pk} ({self.kind})"
