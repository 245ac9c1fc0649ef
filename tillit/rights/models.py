"""Data subject requests (policy §13; GDPR art. 12, 15-21).

Why a request does not point at the person with a foreign key: a request is the controller's
evidence that it answered (art. 5(2), 12), and it must outlive the person, above all an
erasure request, which exists to make the person disappear. ``erase_person`` deletes every row
that links to the person (the classification's ``SUBJECT`` markers), so a request row with a
foreign key would be deleted with the person (or, with PROTECT, block the erasure; SET_NULL
would keep the row but lose who it was about). Instead a request holds:

- ``person_pseudonym``: the person's pseudonymous id, the same one the erasure receipt keeps,
  so the request and the receipt can be matched without personal data;
- ``email_digest``: a keyed hash (HMAC) of the address the request was made with, to merge
  duplicates and rate-limit, never the address itself. The verification link goes to the
  address *we hold* for the person, read from the person when the mail is sent;
- free text (``details``, a correction's proposed value, a document signer's name) only while
  the request is open: it is blanked when the request is completed, refused or expired.

So a closed request holds no personal data, and the completeness check
(``retention.selectors.find_identifiers``) finds nothing of an erased person in it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class DataSubjectRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", _("Access")
        PORTABILITY = "portability", _("Portability")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        WITHDRAWAL = "withdrawal", _("Withdrawal of consent")
        OBJECTION = "objection", _("Objection")
        OBJECTION_PROCESSING = "objection_processing", _("Objection to other processing")
        RESTRICTION = "restriction", _("Restriction of processing")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        AWAITING_VERIFICATION = "awaiting_verification", _("Awaiting verification")
        VERIFIED = "verified", _("Verified")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        REFUSED = "refused", _("Refused")
        EXPIRED = "expired", _("Expired")

    class Channel(models.TextChoices):
        PORTAL = "portal", _("Rights portal")
        PHONE = "phone", _("Phone")
        LETTER = "letter", _("Letter")
        EMAIL = "email", _("Email")

    # The public reference of the request (in signed links and letters); says nothing alone.
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=30, choices=Status.choices, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    language = models.CharField(max_length=5, default="en")
    received_at = models.DateTimeField(db_index=True)
    # The legal due date (a calendar day, policy §13) and the extended one, with the reason.
    due_on = models.DateField(db_index=True)
    extended_until = models.DateField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    person_pseudonym = models.UUIDField(null=True, blank=True, db_index=True)
    email_digest = models.CharField(max_length=64, blank=True, db_index=True)
    details = models.TextField(blank=True)
    # Verification by a link to the address we hold: a hash of the link's one-time secret.
    verification_method = models.CharField(max_length=20, blank=True)
    verification_digest = models.CharField(max_length=64, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_expires_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Why the request waits for the privacy officer (a code of tillit.policy.rights), if it does.
    staff_step_reason = models.CharField(max_length=40, blank=True)
    # For an objection under art. 21(1): the purpose (a key of the policy) objected to.
    objection_purpose = models.CharField(max_length=40, blank=True)
    # For a restriction under art. 18(1): its grounds (tillit.policy.restriction.GROUNDS).
    restriction_grounds = models.CharField(max_length=30, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    # What was done, without personal data (erased tables and counts, what was kept and why).
    outcome = models.JSONField(default=dict, blank=True)
    erasure_receipt_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["email_digest", "kind", "status"], name="rights_request_open_idx")]

    def __str__(self) -> str:
        return f"Request #{self.pk} ({self.kind})"


class RequestEvent(models.Model):
    """The history of a request, append-only (the database refuses UPDATE and DELETE)."""

    class Kind(models.TextChoices):
        RECEIVED = "received", _("Received")
        REPEATED = "repeated", _("Asked again (merged)")
        VERIFICATION_SENT = "verification_sent", _("Verification link sent")
        VERIFIED = "verified", _("Verified")
        DOCUMENT_ATTACHED = "document_attached", _("Signed document attached")
        NEEDS_STAFF = "needs_staff", _("Waiting for the privacy officer")
        EXTENDED = "extended", _("Deadline extended")
        CORRECTION_APPROVED = "correction_approved", _("Correction approved")
        CORRECTION_REFUSED = "correction_refused", _("Correction refused")
        RECIPIENTS_NOTIFIED = "recipients_notified", _("Recipients to be told")
        COMPLETED = "completed", _("Completed")
        REFUSED = "refused", _("Refused")
        EXPIRED = "expired", _("Expired")
        DOWNLOADED = "downloaded", _("Answer downloaded")

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    at = models.DateTimeField()
    actor_label = models.CharField(max_length=100)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["request", "at"], name="rights_event_request_idx")]

    def __str__(self) -> str:
        return f"RequestEvent #{self.pk} ({self.kind})"


class CorrectionProposal(models.Model):
    """A correction the person asked for (art. 16). The proposed value is kept only until the
    privacy officer decides; the decision and its reason stay."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="corrections")
    field = models.CharField(max_length=30)
    proposed_value = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"CorrectionProposal #{self.pk} ({self.field})"


class SignedDocument(models.Model):
    """A signed PDF attached to a request by staff (the ``signed_document`` verification of the
    policy), with the result of checking its signature."""

    class Result(models.TextChoices):
        SIGNED = "signed", _("Signed, intact")
        NOT_SIGNED = "not_signed", _("Not signed")
        TAMPERED = "tampered", _("Changed after signing")
        UNREADABLE = "unreadable", _("Not a readable PDF")

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="documents")
    uploaded_at = models.DateTimeField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    # Where the file is stored, relative to TILLIT_DATA_DIR; blanked (file deleted) on close.
    path = models.CharField(max_length=200, blank=True)
    result = models.CharField(max_length=12, choices=Result.choices)
    signer_subject = models.CharField(max_length=300, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    is_trusted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"SignedDocument #{self.pk} ({self.result})"


class PortalAttempt(models.Model):
    """One submission of the rights portal, for rate-limiting: keyed hashes of the address
    and of the truncated IP address, never either in clear. Kept one day."""

    at = models.DateTimeField(db_index=True)
    email_digest = models.CharField(max_length=64, db_index=True)
    source_digest = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"PortalAttempt #{self.pk}"


class RequestEmail(models.Model):
    """An email to the person about their request (the answer, an extension, a refusal),
    written in the transaction that decided it, so a crash after the commit cannot lose it,
    and sent by a task after the commit: claimed first (``claimed_until``), with its
    Message-ID fixed here (a send repeated after a crash carries the same one).

    ``email`` is the one address the person's data still lives at while the answer is on its
    way (an erasure request's answer goes to the address just erased): it is blanked the
    moment the email was sent, so a sent email holds no personal data."""

    class Kind(models.TextChoices):
        ANSWER = "answer", _("Answer")
        EXTENSION = "extension", _("Deadline extended")
        REFUSAL = "refusal", _("Refusal")

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.CharField(max_length=254, blank=True)
    with_download = models.BooleanField(default=False)
    message_id = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"RequestEmail #{self.pk} ({self.kind})"
