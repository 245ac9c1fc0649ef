"""People, organisations, the interaction timeline, customer relationships and provenance.

Every field is classified in ``tillit.policy.classification`` (a test fails on one that is
not). Writes go through ``people.services``; reads of personal data through the read gate
in ``people.selectors``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    """A business: a customer, a prospect's employer, a partner's company."""

    org_number = models.CharField(max_length=9, unique=True, null=True, blank=True)
    name = models.CharField(max_length=200)
    industry_code = models.CharField(max_length=10, blank=True)
    industry_code_version = models.CharField(max_length=20, blank=True)
    street = models.CharField(max_length=200, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, default="NO")
    # The register's organisation form (AS, ENK, ...): a form of the policy's
    # [sole_proprietorships] (ENK) makes the organisation personal data of its owner (§6).
    organisation_form = models.CharField(max_length=10, blank=True, default="", db_default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["name"], name="people_org_name_idx")]

    def __str__(self) -> str:
        return f"Organization #{self.pk}"


class Person(models.Model):
    """A person at a business. ``retain_until``/``retain_reason`` say until when, and why,
    the person may be kept (policy §9); they are recomputed whenever a ground changes."""

    pseudonym = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, unique=True, null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    position = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="people"
    )
    language = models.CharField(max_length=5, default="en")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_people"
    )
    last_contact_at = models.DateTimeField(null=True, blank=True)
    # The privacy notice the person was given (§14: only its purposes may be used for them).
    notice_version = models.ForeignKey(
        "consent.NoticeVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    retain_until = models.DateTimeField(null=True, blank=True, db_index=True)
    retain_reason = models.CharField(max_length=40, blank=True, db_index=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["name"], name="people_person_name_idx")]

    def __str__(self) -> str:
        # Never the name: str() of a model ends up in logs and error pages.
        return f"Person #{self.pk}"


class ProductInterest(models.Model):
    """A product or service a person is interested in, or already has (§4)."""

    class Status(models.TextChoices):
        INTERESTED = "interested", "Interested in"
        HAS = "has", "Already has"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="interests")
    product = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=Status.choices)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "product"], name="people_interest_unique_person_product")
        ]

    def __str__(self) -> str:
        return f"ProductInterest #{self.pk}"


class Interaction(models.Model):
    """One contact with a person: a form, a download, an email, a call, a chat, an order, an
    event, a visit or a note. Whether it moves the retention clock is the policy's call
    (``retention.dialogue`` in the policy file), made from ``kind``, ``direction``, ``reached``."""

    class Kind(models.TextChoices):
        FORM = "form", "Form"
        DOWNLOAD = "download", "Download"
        EMAIL = "email", "Email"
        CALL = "call", "Call"
        CHAT = "chat", "Chat"
        ORDER = "order", "Order"
        EVENT = "event", "Event"
        VISIT = "visit", "Visit"
        NOTE = "note", "Note"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "From the person"
        OUTBOUND = "outbound", "From us"
        INTERNAL = "internal", "Internal note"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    # An outbound call the person answered counts as contact they took part in.
    reached = models.BooleanField(default=False)
    occurred_at = models.DateTimeField()
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=300, blank=True)
    summary = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "occurred_at"], name="people_interaction_person_idx")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.direction}) #{self.pk}"


class CustomerRelationship(models.Model):
    """A period in which the person is a customer (§9: no deadline while it is active)."""

    class EndReason(models.TextChoices):
        SERVICE_CANCELLED = "service_cancelled", _("The last service was cancelled")
        CUSTOMER_ASKED = "customer_asked", _("The customer asked to end it")
        NO_LONGER_BUYING = "no_longer_buying", _("The customer no longer buys from us")
        BUSINESS_CLOSED = "business_closed", _("The business closed or was taken over")
        LAPSED = "lapsed", _("No active service and no recent order (privacy policy §9)")
        OTHER = "other", _("Other")

    # The reasons staff give; the other two are set by the system (cancelling the last
    # service, the daily job for lapsed relationships).
    STAFF_END_REASONS = ("customer_asked", "no_longer_buying", "business_closed", "other")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="customer_relationships")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # Why it ended (a choice, never free text: no personal data in it).
    end_reason = models.CharField(max_length=30, choices=EndReason.choices, blank=True, db_default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="people_customer_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"CustomerRelationship #{self.pk}"


class Dialogue(models.Model):
    """An open dialogue with a person (policy §7 "respond to requests and create and maintain a
    sales dialogue"; §11 partners only during an ongoing dialogue): the one notion of it. A
    request from the person opens one (``request``: the inbound form, chat, call or email), or
    staff do (``opened_by_id``); staff close it. While one is open the person is on the
    sales-dialogue call list, and a partner's dialogue (``sharing``) may include them: the
    partner's dialogue is this one seen from the partner's side. At most one open per kind."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="dialogues")
    kind = models.CharField(max_length=20)
    opened_at = models.DateTimeField()
    opened_by_id = models.BigIntegerField(null=True, blank=True)
    request = models.ForeignKey(Interaction, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "kind"], condition=models.Q(closed_at__isnull=True), name="people_dialogue_one_open"
            )
        ]
        indexes = [models.Index(fields=["person", "closed_at"], name="people_dialogue_person_idx")]

    def __str__(self) -> str:
        return f"Dialogue #{self.pk}"


class Purchase(models.Model):
    """A product of the policy's ``[products]`` a person bought in an order, and the typed fact
    the existing-customer exception rests on (mfl. §15(3)): whether the order offered them a
    free and simple way to refuse marketing when their address was collected, the exact
    wording shown (empty: none was offered), and whether they refused then and there. Written
    by ``capture.services.record_order``."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="purchases")
    order_number = models.CharField(max_length=40)
    product = models.CharField(max_length=60)
    purchased_at = models.DateTimeField()
    opt_out_wording = models.TextField(blank=True)
    opt_out_language = models.CharField(max_length=5, blank=True)
    opt_out_refused = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_number", "product"], name="people_purchase_unique_order_product")
        ]
        indexes = [models.Index(fields=["person", "product"], name="people_purchase_person_idx")]

    def __str__(self) -> str:
        return f"Purchase #{self.pk}"


class Provenance(models.Model):
    """Where one field of a person or an organisation came from, and when (§4, §6)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, null=True, blank=True, related_name="provenance")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="provenance"
    )
    field = models.CharField(max_length=50)
    source = models.CharField(max_length=40)
    detail = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["person", "field"], name="people_prov_person_idx"),
            models.Index(fields=["organization", "field"], name="people_prov_org_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(person__isnull=False) & models.Q(organization__isnull=True))
                | (models.Q(person__isnull=True) & models.Q(organization__isnull=False)),
                name="people_provenance_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"Provenance of {self.field} from {self.source}"


class QuarantinedText(models.Model):
    """Free text the sensitive data guard held back (policy §16, GDPR art. 9): the original
    subject and text of an interaction that looked like it held a national identity number,
    a payment card, an IBAN or a special category of personal data. The interaction keeps a
    neutral placeholder; the text is shown only to the privacy officer, who may release a
    false positive (back onto the timeline) or discard it. ``findings`` holds the kinds,
    categories and character spans of the hits, never the matched values."""

    class Source(models.TextChoices):
        EMAIL = "email", "Email"
        CALL = "call", "Call"
        NOTE = "note", "Note"
        FORM = "form", "Form"
        CHAT = "chat", "Chat"
        OTHER = "other", "Other"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="quarantined_texts")
    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, null=True, blank=True, related_name="quarantined_texts"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    findings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(db_index=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["released_at", "created_at"], name="people_quarantine_open_idx")]

    def __str__(self) -> str:
        # Never the text: str() of a model ends up in logs and error pages.
        return f"QuarantinedText #{self.pk}"


class Restriction(models.Model):
    """A restriction of processing (GDPR art. 18; policy §13): while ``lifted_at`` is empty the
    person's data is stored, not used (no campaign, call list, disclosure, and no staff read
    except as ``[restriction]`` of the policy allows). ``grounds`` is one of
    ``tillit.policy.restriction.GROUNDS`` (art. 18(1)(a)-(d)). Lifting tells the person first
    (art. 18(3)): the privacy officer asks for the lift (``lift_requested_at``), the email is
    claimed (``lift_claimed_until``) and sent with its Message-ID fixed here, and only once it
    went does the lift take effect (``lift_notified_at`` and ``lifted_at``). At most one
    restriction in force per person; lifted ones stay as the record of when processing was
    restricted (``tillit verify`` checks sends, disclosures and reads against them)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="restrictions")
    grounds = models.CharField(max_length=30)
    restricted_at = models.DateTimeField()
    # The rights request it came from (its public reference), if any.
    request_reference = models.UUIDField(null=True, blank=True)
    lift_requested_at = models.DateTimeField(null=True, blank=True)
    lift_message_id = models.CharField(max_length=100, blank=True)
    lift_language = models.CharField(max_length=5, blank=True)
    lift_claimed_until = models.DateTimeField(null=True, blank=True)
    lift_attempts = models.PositiveIntegerField(default=0)
    lift_last_error = models.CharField(max_length=200, blank=True)
    lift_notified_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=models.Q(lifted_at__isnull=True), name="people_restriction_one_in_force"
            )
        ]
        indexes = [models.Index(fields=["person", "lifted_at"], name="people_restriction_person_idx")]

    def __str__(self) -> str:
        return f"Restriction #{self.pk}"
