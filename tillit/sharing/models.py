"""Partners, dialogues, partner events, the disclosure ledger, deliveries to partners, the
notices owed to recipients after a correction or an erasure (GDPR art. 19), and the runs of
``tillit verify``.

Every field is classified in ``tillit.policy.classification``. Writes go through
``sharing.services``; ``sharing.services.disclose`` is the only path by which personal data
leaves for a partner (policy §11).

The disclosure ledger (``Disclosure`` and ``DisclosedPerson``) is append-only: the database
refuses UPDATE and DELETE on its rows (migration 0002). It outlives the people it names: a
row holds the person's pseudonymous id, never a foreign key to them and never their data, so
an erasure leaves the ledger whole and the ledger holds nothing to erase.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tillit.people.models import Person


class Partner(models.Model):
    """A business we may share data with while a dialogue is open (§11): its contact point,
    the agreement, and the channel disclosures and notices go through (an HTTPS endpoint,
    HMAC-signed with ``signing_secret``; or email to the contact point)."""

    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    org_number = models.CharField(max_length=9, blank=True)
    # The partner's contact point: a business function address (e.g. privacy@partner.example).
    contact_email = models.CharField(max_length=254)
    endpoint_url = models.CharField(max_length=500, blank=True)
    signing_secret = models.CharField(max_length=64)
    agreement_reference = models.CharField(max_length=200)
    agreement_dated = models.DateField()
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # What the partner is to us (GDPR art. 4(7)-(8), 26, 28): ``tillit.policy.assessments.
    # PARTNER_ROLES``. A joint controller or a processor also has its entry in the policy.
    role = models.CharField(max_length=30, default="independent_controller", db_default="independent_controller")

    def __str__(self) -> str:
        return f"Partner {self.key}"


class ProcessorChannel(models.Model):
    """How a processor of the policy (§12, e.g. 7Sense AS) is reached with erasure notices
    (GDPR art. 19, 28(3)(g)): the processor itself comes from the policy file; only its channel
    is entered here."""

    processor_key = models.CharField(max_length=60, unique=True)
    contact_email = models.CharField(max_length=254, blank=True)
    endpoint_url = models.CharField(max_length=500, blank=True)
    signing_secret = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Channel of processor {self.processor_key}"


class Dialogue(models.Model):
    """An ongoing sales or customer dialogue between people, us and a partner (§11). Open
    until closed; data may go to the partner only while it is open and includes the person."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="dialogues")
    kind = models.CharField(max_length=20)
    # A short title without personal data, e.g. "Fibre roll-out Vestfold 2026".
    title = models.CharField(max_length=200)
    opened_at = models.DateTimeField()
    opened_by_id = models.BigIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_id = models.BigIntegerField(null=True, blank=True)
    # The staff member who looks after it, when not the one who opened it: set when a leaver's
    # open dialogues are handed to a colleague (§16; accounts.services.offboard_staff).
    owner_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["partner", "closed_at"], name="sharing_dialogue_partner_idx")]

    def __str__(self) -> str:
        return f"Dialogue #{self.pk}"


class DialogueMember(models.Model):
    """A person taking part in a dialogue, from ``added_at`` until ``removed_at``. Erased with
    the person (it links to them); the ledger keeps what was disclosed."""

    dialogue = models.ForeignKey(Dialogue, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField()
    added_by_id = models.BigIntegerField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dialogue", "person"],
                condition=models.Q(removed_at__isnull=True),
                name="sharing_member_unique_current",
            )
        ]
        indexes = [models.Index(fields=["person", "dialogue"], name="sharing_member_person_idx")]

    def __str__(self) -> str:
        return f"DialogueMember #{self.pk}"


class Event(models.Model):
    """An event we run, alone or with a named partner (§11). Its registration form is a form
    of the capture app (source ``event`` or ``partner_event``); an event with a partner has its
    own dialogue with that partner, which attendees join."""

    name = models.CharField(max_length=200)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    starts_at = models.DateTimeField()
    # The registration form (capture.Form), by id: the capture app owns forms.
    form_id = models.BigIntegerField(null=True, blank=True)
    dialogue = models.OneToOneField(Dialogue, on_delete=models.PROTECT, null=True, blank=True, related_name="event")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Event #{self.pk}"


class EventAttendance(models.Model):
    """A person attended an event (recorded on their timeline as an ``event`` interaction)."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="attendances")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    attended_at = models.DateTimeField()
    interaction_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "person"], name="sharing_attendance_unique_event_person")
        ]

    def __str__(self) -> str:
        return f"EventAttendance #{self.pk}"


class Disclosure(models.Model):
    """One disclosure to a partner: the disclosure ledger (append-only). Who (staff member and
    role), to whom (partner, through which dialogue, for which event), on which basis, for which
    purpose, which categories, how (CSV, JSON, or the partner's endpoint), when, and how many
    people. The people are in ``DisclosedPerson``."""

    class Channel(models.TextChoices):
        CSV = "csv", _("CSV file")
        JSON = "json", _("JSON file")
        ENDPOINT = "endpoint", _("The partner's endpoint")

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="disclosures")
    dialogue = models.ForeignKey(Dialogue, on_delete=models.PROTECT, related_name="disclosures")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, null=True, blank=True, related_name="disclosures")
    basis = models.CharField(max_length=30)
    purpose = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    categories = models.JSONField(default=list)
    people = models.PositiveIntegerField()
    disclosed_at = models.DateTimeField(db_index=True)
    staff_user_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=100)
    actor_role = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"Disclosure {self.reference}"


class DisclosedPerson(models.Model):
    """One person of a disclosure (append-only): their pseudonymous id and the categories that
    went for them. No foreign key: the row survives the person's erasure and holds no data."""

    disclosure = models.ForeignKey(Disclosure, on_delete=models.PROTECT, related_name="rows")
    pseudonym = models.UUIDField(db_index=True)
    categories = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"DisclosedPerson #{self.pk}"


class Delivery(models.Model):
    """Sending a disclosure to the partner's HTTPS endpoint: retried with backoff until the
    endpoint answers 2xx; ``delivered`` only then, ``failed`` after the last attempt,
    ``withheld`` when at an attempt nobody in it may go to the partner any more. Each attempt
    is claimed first (``claimed_until``: no second attempt runs meanwhile; a worker that died
    mid-attempt is retried once it passed); ``withheld`` counts the people the rule no longer
    allowed at the last attempt (left out of what was sent)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be delivered")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        WITHHELD = "withheld", _("Not sent: no longer allowed")

    disclosure = models.OneToOneField(Disclosure, on_delete=models.PROTECT, related_name="delivery")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    withheld = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Delivery of disclosure #{self.disclosure_id}"


class RecipientNotice(models.Model):
    """A notice owed to a recipient of personal data (GDPR art. 19): to a partner that received
    a person's data, when it was corrected or the person was erased; to a processor of the
    policy, of every erasure (art. 28(3)(g); retention writes those as ``ErasureNotice``, which
    this delivers). Sent through the recipient's channel and retried until acknowledged (an
    endpoint's 2xx answer, or the signed link in the email)."""

    class Kind(models.TextChoices):
        ERASURE = "erasure", _("Erasure")
        CORRECTION = "correction", _("Correction")

    class Status(models.TextChoices):
        PENDING = "pending", _("Not yet delivered")
        SENT = "sent", _("Sent, waiting for acknowledgement")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="notices")
    processor_key = models.CharField(max_length=60, blank=True)
    erasure_batch = models.UUIDField(null=True, blank=True, db_index=True)
    # The retention.ErasureNotice this delivers (processor notices), by id.
    erasure_notice_id = models.BigIntegerField(null=True, blank=True, unique=True)
    people = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["partner", "erasure_batch"], name="sharing_notice_batch_idx")]

    def __str__(self) -> str:
        return f"Notice {self.reference} ({self.kind})"


class NoticeItem(models.Model):
    """One person a notice is about: the pseudonymous id the recipient was given with the data,
    and, for a correction, the categories that changed."""

    notice = models.ForeignKey(RecipientNotice, on_delete=models.CASCADE, related_name="items")
    pseudonym = models.UUIDField(db_index=True)
    categories = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"NoticeItem #{self.pk}"


class NoticeScan(models.Model):
    """How far ``queue_art19_notices`` has looked: the last provenance record (corrections)
    and the last retention erasure notice (processors) it has seen."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    ran_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Scan {self.name} at {self.last_id}"


class VerifyRun(models.Model):
    """One run of ``tillit verify``: when, how long, the number of violations per kind, and the
    violations themselves (kind and pseudonymous id only; at most a few thousand kept)."""

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    seconds = models.FloatField()
    total = models.PositiveIntegerField()
    counts = models.JSONField(default=dict)
    violations = models.JSONField(default=list)
    truncated = models.BooleanField(default=False)
    actor_label = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"Verify run #{self.pk}: {self.total} violations"
