"""Subscriptions and the suppression list. (The consent ledger itself arrives with the consent
issue; subscriptions are here because retention depends on them, policy §9.)"""

from __future__ import annotations

from django.db import models

from tillit.people.models import Person


class Subscription(models.Model):
    """A person's subscription to one newsletter list, identified by the list's key. While any
    subscription is open the person has no retention deadline (§9)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="subscriptions")
    newsletter = models.CharField(max_length=60)
    subscribed_at = models.DateTimeField()
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "newsletter"], name="consent_subscription_unique_person_list")
        ]
        indexes = [models.Index(fields=["person", "unsubscribed_at"], name="consent_sub_person_idx")]

    def __str__(self) -> str:
        return f"Subscription #{self.pk} to {self.newsletter}"


class ConsentEvent(models.Model):
    """One entry of the consent ledger (append-only; the database refuses UPDATEs): a person
    gave or withdrew consent, or objected, for a purpose on a channel, with the legal basis it
    concerns, where it happened, the exact wording shown and the notice version in force, and
    the evidence (truncated IP address, user agent). The current state is derived from the
    latest event per purpose and channel (``consent.selectors.consent_state``)."""

    class Action(models.TextChoices):
        GIVEN = "given", "Given"
        WITHDRAWN = "withdrawn", "Withdrawn"
        OBJECTED = "objected", "Objected"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consent_events")
    purpose = models.CharField(max_length=40)
    channel = models.CharField(max_length=10)
    action = models.CharField(max_length=10, choices=Action.choices)
    basis = models.CharField(max_length=30)
    occurred_at = models.DateTimeField()
    source_kind = models.CharField(max_length=30)
    source_ref = models.CharField(max_length=300, blank=True)
    wording = models.TextField()
    language = models.CharField(max_length=5)
    notice_version = models.ForeignKey("consent.NoticeVersion", on_delete=models.PROTECT, related_name="+")
    evidence_ip = models.CharField(max_length=45, blank=True)
    evidence_user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["person", "purpose", "channel", "occurred_at"], name="consent_event_state_idx"),
            models.Index(fields=["purpose", "channel", "occurred_at"], name="consent_event_purpose_idx"),
        ]

    def __str__(self) -> str:
        return f"Consent {self.action} for {self.purpose}/{self.channel}"


class SuppressionEntry(models.Model):
    """An address or number that must never be brought back (an objection, a withdrawal that
    led to erasure, a hard bounce). Holds only a keyed hash (HMAC-SHA256) of the normalised
    identifier: enough to recognise it on import, not to read it."""

    digest = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=10)
    reason = models.CharField(max_length=20)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Suppressed {self.channel} ({self.reason})"


class NoticeVersion(models.Model):
    """One published version of the privacy notice, rendered from the policy file in every
    language. ``digest`` is the SHA-256 of the rendered texts, so the same notice is never
    published twice; ``purposes`` are the purpose keys it tells people about (§14: a purpose
    may be used for a person only once they have been given a notice that names it)."""

    digest = models.CharField(max_length=64, unique=True)
    policy_digest = models.CharField(max_length=64)
    published_at = models.DateTimeField()
    purposes = models.JSONField(default=list)
    texts = models.JSONField(default=dict)  # language -> the notice as plain text

    def __str__(self) -> str:
        return f"Notice {self.published_at:%Y-%m-%d} ({self.digest[:8]})"


class NoticeDelivery(models.Model):
    """A person was sent a notice version (§14: informed again before a new purpose is used
    for them). Only after this may the version's purposes be used for the person.

    The email is claimed before it is sent: the row exists with ``sent_at`` empty and
    ``claimed_until`` set (no second run sends it meanwhile), and ``message_id`` is the
    Message-ID of that one email (a send repeated after a crash carries the same one)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notice_deliveries")
    notice_version = models.ForeignKey(NoticeVersion, on_delete=models.PROTECT, related_name="deliveries")
    sent_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=10, default="email")
    message_id = models.CharField(max_length=100, blank=True, db_default="")
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "notice_version"], name="consent_delivery_unique_person_version")
        ]

    def __str__(self) -> str:
        return f"Notice delivery #{self.pk}"


# Cookie consent (§15): the banner's wording and every choice made in it, as proof.


class CookieBannerWording(models.Model):
    """The exact texts of the cookie banner in one language, as shown (identified by the
    SHA-256 of the texts, so each wording is stored once): what a choice was made to."""

    digest = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=5)
    texts = models.JSONField(default=dict)
    first_shown_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Cookie banner wording {self.digest[:8]} ({self.language})"


class CookieChoice(models.Model):
    """One choice made in the cookie banner (append-only; the database refuses UPDATEs):
    which optional categories a browser granted (an empty list is a refusal or a withdrawal),
    under which notice version, to which banner wording, whether the browser sent Global
    Privacy Control, and the evidence (shortened IP address, user agent). ``browser_id`` is
    the random id in the necessary ``tillit_consent`` cookie; the latest choice per browser
    is in force."""

    browser_id = models.UUIDField()
    categories = models.JSONField(default=list)
    notice_version = models.ForeignKey(NoticeVersion, on_delete=models.PROTECT, related_name="+")
    wording = models.ForeignKey(CookieBannerWording, on_delete=models.PROTECT, related_name="choices")
    language = models.CharField(max_length=5)
    gpc = models.BooleanField(default=False)
    chosen_at = models.DateTimeField()
    evidence_ip = models.CharField(max_length=45, blank=True)
    evidence_user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["browser_id", "chosen_at"], name="consent_cookie_browser_idx")]

    def __str__(self) -> str:
        return f"Cookie choice #{self.pk}"


class PolicyVersion(models.Model):
    """One published version of the policy file (§14), kept for good: the TOML text as it was
    published, identified by its SHA-256 (``digest``, as ``NoticeVersion.policy_digest``), in
    force from ``published_at`` until the next version. ``tillit verify`` judges each read, send
    and disclosure by the version in force when it happened."""

    digest = models.CharField(max_length=64, unique=True)
    facts_digest = models.CharField(max_length=64)
    text = models.TextField()
    published_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Policy {self.published_at:%Y-%m-%d} ({self.digest[:8]})"


class IndirectNotice(models.Model):
    """GDPR art. 14 for one person and one source we did not hear from them through (§4, §6):
    the notice sent (claimed, then sent), or the exemption the policy claims for the source
    (art. 14(5)), recorded. ``obtained_at`` is when the first data from the source arrived."""

    class Status(models.TextChoices):
        PENDING = "pending", "Due"
        SENDING = "sending", "Claimed for sending"
        SENT = "sent", "Sent"
        EXEMPT = "exempt", "Exempt"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=40)
    obtained_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices)
    exemption = models.CharField(max_length=20, blank=True)  # the article claimed, e.g. 14(5)(b)
    recorded_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=5, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "source"], name="consent_indirect_unique_person_source")
        ]
        indexes = [models.Index(fields=["status", "claimed_at"], name="consent_indirect_status_idx")]

    def __str__(self) -> str:
        return f"Art. 14 notice #{self.pk} ({self.status})"


# Consent has a lifetime (§5, ``[consent_lifetime]``): the renewal email, asked once.


class ConsentRenewal(models.Model):
    """The one email asking a person to renew a consent before it lapses: for the consent
    given (or last renewed) at ``given_at`` for a purpose on a channel, at most one row
    (``consent_renewal_once``), so we ask once. Recorded ``pending``, claimed (``sending``,
    committed, with ``claimed_at``), re-checked at the attempt, then ``sent``; ``skipped`` when
    the re-check found the consent gone, lapsed or renewed meanwhile. ``message_id`` is fixed
    by the row, so a send repeated after a crash carries the same Message-ID."""

    class Status(models.TextChoices):
        PENDING = "pending", "Due"
        SENDING = "sending", "Claimed for sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Not sent: no longer due"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=40)
    channel = models.CharField(max_length=10)
    given_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices)
    recorded_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=5, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "purpose", "channel", "given_at"], name="consent_renewal_once")
        ]
        indexes = [models.Index(fields=["status", "claimed_at"], name="consent_renewal_status_idx")]

    def __str__(self) -> str:
        return f"Consent renewal #{self.pk} ({self.status})"


# --- The Reservasjonsregisteret (markedsføringsloven §§12-13, policy [telemarketing]) -------


class ReservationExtract(models.Model):
    """One set of data from the Reservasjonsregisteret (Brønnøysundregistrene): a file extract
    of every reserved number (``complete``), or the answer of the official lookup service for
    the numbers we asked about. The newest is in force; ``extracted_on`` is the day the
    register's data is from (mfl. §12: not older than a month on the day of a call)."""

    class Source(models.TextChoices):
        FILE = "file", "Extract file"
        LOOKUP = "lookup", "Lookup service"

    extracted_on = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    complete = models.BooleanField()
    reserved_count = models.PositiveIntegerField(default=0)
    checked_count = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Reservasjonsregisteret {self.source} of {self.extracted_on}"


class ReservedNumber(models.Model):
    """A number in an extract, as a keyed hash of the normalised number (never the number):
    reserved against telemarketing, or (from a lookup) checked and not reserved."""

    extract = models.ForeignKey(ReservationExtract, on_delete=models.CASCADE, related_name="numbers")
    digest = models.CharField(max_length=64)
    reserved = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["extract", "digest"], name="consent_reserved_number_once")]

    def __str__(self) -> str:
        return f"{'Reserved' if self.reserved else 'Checked'} number in extract {self.extract_id}"


class MarketingCallCheck(models.Model):
    """What was checked for one logged marketing call (markedsføringsloven §§12, 14): the
    register data it was checked against (its source and date) and whether it was within the
    permitted calling hours."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    interaction = models.OneToOneField(
        "people.Interaction", on_delete=models.CASCADE, related_name="marketing_call_check"
    )
    purpose = models.CharField(max_length=40)
    register_source = models.CharField(max_length=10)
    register_extracted_on = models.DateField()
    within_hours = models.BooleanField()
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Marketing call check #{self.pk}"
