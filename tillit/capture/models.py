"""What comes in from outside (policy §4, §6): forms and their submissions, material to
download, orders and services. (Shared by several features of the capture app: add a section,
do not rewrite another's.)

Every field is classified in ``tillit.policy.classification``. Writes go through
``capture.services``.
"""

from __future__ import annotations

import uuid

from django.db import models

from tillit.people.models import Person

# --- forms (§4: "a form you filled in") -------------------------------------------------------


class Form(models.Model):
    """A form staff defined: its language, the fields it asks for (each mapped to a data
    category of the policy) and its consent boxes (one per purpose and channel, unticked, with
    the exact wording shown). ``public_id`` is what a website embeds; the form's number is
    never in a public URL.

    ``fields`` is a list of ``{"name", "label", "required"}`` (and ``"options"`` for product
    interests); ``consents`` a list of ``{"purpose", "channel", "wording"}``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=5)
    source = models.CharField(max_length=40, default="form")
    fields = models.JSONField(default=list)
    consents = models.JSONField(default=list)
    material = models.ForeignKey(
        "capture.Material", on_delete=models.SET_NULL, null=True, blank=True, related_name="forms"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Form #{self.pk}"


class FormSubmission(models.Model):
    """One submission of a form by a person: the answers as given (§4 answers to forms),
    including values that differ from what we hold (which are not applied silently)."""

    form = models.ForeignKey(Form, on_delete=models.PROTECT, related_name="submissions")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="form_submissions")
    submitted_at = models.DateTimeField()
    answers = models.JSONField(default=dict)
    # The intake row it was applied from (queued submissions): unique, so a row is applied once.
    intake_ref = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["form", "submitted_at"], name="capture_submission_form_idx")]

    def __str__(self) -> str:
        return f"FormSubmission #{self.pk}"


class FormIntake(models.Model):
    """A submission accepted by the public path and waiting to be applied (``TILLIT_FORM_INTAKE
    = queued``): what passed validation, as one row written in the request. The drain
    (``capture.services.process_intake``) applies it like an inline submission and deletes the
    row in the same transaction, so a pending row lives seconds and an applied one not at all.
    A row the drain cannot apply is kept as ``rejected`` with the reason and its answers and
    evidence blanked (it belongs to nobody; no personal data stays in it).

    ``consents`` are the ticked boxes with the exact wording shown: ``{"purpose", "channel",
    "wording"}``; ``ip`` is already shortened."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        REJECTED = "rejected", "rejected"

    form = models.ForeignKey(Form, on_delete=models.PROTECT, related_name="intake")
    received_at = models.DateTimeField()
    answers = models.JSONField(default=dict)
    consents = models.JSONField(default=list)
    language = models.CharField(max_length=5)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # The browser's first-party ids, only when the box that links visits was ticked.
    browser_id = models.UUIDField(null=True, blank=True)
    visitor_id = models.UUIDField(null=True, blank=True)
    gpc = models.BooleanField(default=False)  # the browser sent Global Privacy Control (Sec-GPC: 1)
    # Keyed hashes (``tillit.core.identifiers.identifier_digest``) of the email address and the
    # phone number in the answers (DESIGN.md rule 17): erasure finds a queued row by them and
    # deletes it with the person, the sweep sees a queued contact, and the drain refuses a row
    # older than a later erasure or suppression of the same identifiers. Blanked on rejection.
    email_digest = models.CharField(max_length=64, blank=True, db_index=True)
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "id"], name="capture_intake_status_idx")]

    def __str__(self) -> str:
        return f"FormIntake #{self.pk}"


# --- downloads (§9: "material you downloaded") -----------------------------------------------


class Material(models.Model):
    """Something to download (a brochure, a white paper) behind a tracked link ``/d/<slug>/``.
    Anonymous downloads are only counted; a download through a person's signed link is an
    interaction on their timeline."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    url = models.CharField(max_length=500)
    downloads = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Material {self.slug}"


# --- orders and services (§4, §6, §9: the customer relationship; bookkeeping hold) ----------


class OrderLine(models.Model):
    """One line of an order: a bookkeeping record (policy: ``retention.legal_holds``). When the
    person is erased the line is kept until ``hold_until`` but detached: ``person`` becomes
    null and only the order number, date, product, amounts and the customer's pseudonym (which
    identifies nobody once the person is gone) remain; the sweep deletes it after the hold."""

    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="order_lines")
    customer_pseudonym = models.UUIDField(db_index=True)
    order_number = models.CharField(max_length=40)
    line_number = models.PositiveIntegerField()
    ordered_at = models.DateTimeField()
    product = models.CharField(max_length=100)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    hold_until = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_number", "line_number"], name="capture_orderline_unique_number"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="capture_orderline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"OrderLine {self.order_number}/{self.line_number}"


class ServiceSubscription(models.Model):
    """A service the person (as a customer) uses, from ``started_at`` until ``cancelled_at``.
    The first order or service starts the customer relationship; cancelling the last active
    service ends it (§9)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="services")
    product = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "cancelled_at"], name="capture_service_person_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cancelled_at__isnull=True) | models.Q(cancelled_at__gte=models.F("started_at")),
                name="capture_service_cancelled_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"ServiceSubscription #{self.pk}"


# =============================================================================================
# Site visits (policy §4 technical information; §15 statistics cookies). Owned by the visits
# work (tillit/capture/visits.py): keep this section at the end of the file.
# =============================================================================================


class Visit(models.Model):
    """One page view by a browser that gave statistics consent (a browser sending Global
    Privacy Control only if it actively opted in): the page (no query string, no fragment,
    token segments removed), where the visitor came from (origin and path only), the shortened
    IP address, the browser, operating system and language. Kept for the policy's
    ``retention.raw_visits`` months; the daily counts (``DailyVisits``) outlive it.

    ``visitor_id`` is the random id in the statistics cookie; ``person`` is set only when the
    visitor identified themselves in a form and consented to statistics there."""

    visited_at = models.DateTimeField(db_index=True)
    day = models.DateField(db_index=True)  # the local date (Europe/Oslo) the counts use
    visitor_id = models.UUIDField(db_index=True)
    url = models.CharField(max_length=500)
    path = models.CharField(max_length=300)
    referrer = models.CharField(max_length=500, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    browser = models.CharField(max_length=50, blank=True)
    operating_system = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=20, blank=True)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, null=True, blank=True, related_name="visits")

    def __str__(self) -> str:
        return f"Visit #{self.pk}"


class VisitorLink(models.Model):
    """A statistics visitor id that belongs to a person: they identified themselves in a form
    with statistics consent (both the cookie choice and the consent ledger say so). Visits
    from then on carry the person; earlier visits stay anonymous."""

    visitor_id = models.UUIDField(unique=True)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="visitor_links")
    linked_at = models.DateTimeField()
    source_ref = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"VisitorLink #{self.pk}"


class DailyVisits(models.Model):
    """Statistics: how many visits (and distinct visitors) a page had on a day, per browser,
    operating system and language. No personal data: counts only."""

    day = models.DateField()
    path = models.CharField(max_length=300)
    browser = models.CharField(max_length=50, blank=True)
    operating_system = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=20, blank=True)
    visits = models.PositiveIntegerField()
    visitors = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "path", "browser", "operating_system", "language"], name="capture_daily_visits_unique"
            )
        ]

    def __str__(self) -> str:
        return f"DailyVisits {self.day}"


class VisitDay(models.Model):
    """A day whose raw visits have been counted into ``DailyVisits`` (each day once); raw
    visits are deleted only from counted days."""

    day = models.DateField(unique=True)
    aggregated_at = models.DateTimeField()
    visits = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"VisitDay {self.day}"
