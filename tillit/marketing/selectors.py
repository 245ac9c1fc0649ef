"""Reads of marketing: newsletters, campaigns, their audience (the eligibility rule in SQL,
``consent.selectors.audience``) and progress, the phone call list (through the read gate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.pagination import Page
from tillit.marketing.models import Campaign, NewsletterList, SendRecord, SubscriptionRequest
from tillit.people import selectors as people_selectors
from tillit.people.models import Person, ProductInterest
from tillit.policy import purposes as purpose_rules

# How long a send record stays with the worker that took it before another may (seconds).
LEASE_SECONDS = 120


def may_run_campaigns(actor: Actor) -> bool:
    """Lists and campaigns are for the roles that see, for a marketing purpose, both the email
    address and the person's choices (consents and subscriptions): the policy's marketing
    role (§10). System jobs always may."""
    if actor.kind == "system":
        return True
    current = policy.current()
    return any(
        {"email", "choices"} <= purpose_rules.visible_categories(current, actor.role, key)
        for key, purpose in current.purposes.items()
        if purpose.marketing and "email" in purpose.bases
    )


def check_may_run_campaigns(actor: Actor) -> None:
    if not may_run_campaigns(actor):
        raise PermissionDeniedError("your role may not manage newsletters or campaigns")


def campaign_purposes() -> list[str]:
    """The purposes a campaign or a newsletter may serve: marketing purposes of the policy that
    use email."""
    return [key for key, p in policy.current().purposes.items() if p.marketing and "email" in p.bases]


def label(texts: dict[str, str], language: str) -> str:
    """A text in ``language``, else in the policy's default language."""
    return texts.get(language) or texts.get(policy.current().default_language) or next(iter(texts.values()), "")


def newsletters(*, include_archived: bool = False) -> list[NewsletterList]:
    lists = NewsletterList.objects.order_by("key")
    if not include_archived:
        lists = lists.filter(archived_at=None)
    return list(lists)


def newsletter(key: str) -> NewsletterList:
    found = NewsletterList.objects.filter(key=key, archived_at=None).first()
    if found is None:
        raise NotFoundError("no such newsletter", field="newsletter")
    return found


def campaigns() -> list[Campaign]:
    return list(Campaign.objects.select_related("newsletter").order_by("-created_at", "-pk")[:200])


def campaign(campaign_id: int) -> Campaign:
    found = Campaign.objects.select_related("newsletter").filter(pk=campaign_id).first()
    if found is None:
        raise NotFoundError("no such campaign")
    return found


def audience(
    *, purpose: str, newsletter: str | None, interest: str = "", products: Sequence[str] = ()
) -> QuerySet[Person]:
    """Everyone a campaign may be sent to now: the eligibility rule for the purpose by email
    (``consent.selectors.audience``: consent or its exceptions, the existing-customer one only
    for buyers of products similar to ``products``, no objection, not suppressed, told about
    the purpose), the newsletter's open subscribers, with an address; narrowed to people
    interested in ``interest`` when given. One query."""
    people = consent_selectors.audience(
        purpose=purpose, channel="email", newsletter=newsletter, products=products
    ).filter(email__isnull=False)
    if interest:
        people = people.filter(Exists(ProductInterest.objects.filter(person=OuterRef("pk"), product=interest)))
    return people


def campaign_audience(item: Campaign) -> QuerySet[Person]:
    return audience(
        purpose=item.purpose,
        newsletter=item.newsletter.key if item.newsletter else None,
        interest=item.interest,
        products=item.products or (),
    )


@dataclass(frozen=True)
class AudienceCount:
    total: int
    by_language: dict[str, int]


def audience_count(*, actor: Actor, campaign_id: int) -> AudienceCount:
    """How many people the campaign would reach if sent now, per recipient language (what
    the preview shows). Counts only: no personal data is read."""
    check_may_run_campaigns(actor)
    item = campaign(campaign_id)
    rows = campaign_audience(item).order_by().values("language").annotate(n=Count("pk"))
    current = policy.current()
    languages = [lang for lang in current.languages if item.subjects.get(lang)]
    by_language = dict.fromkeys(languages, 0)
    for row in rows:
        lang = row["language"] if row["language"] in languages else current.default_language
        by_language[lang] = by_language.get(lang, 0) + row["n"]
    return AudienceCount(total=sum(by_language.values()), by_language=by_language)


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    counts: dict[str, int]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_sent_at: dt.datetime | None

    @property
    def done(self) -> int:
        return self.total - self.counts.get("pending", 0)

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(self.done * 100 / self.total)

    def stalled(self, now: dt.datetime) -> bool:
        """Sending, work left, and nothing sent for longer than a lease: a worker died."""
        if self.status != Campaign.Status.SENDING or not self.counts.get("pending"):
            return False
        last = self.last_sent_at or self.started_at
        return last is not None and (now - last).total_seconds() > LEASE_SECONDS


def progress(*, actor: Actor, campaign_id: int) -> Progress:
    check_may_run_campaigns(actor)
    item = campaign(campaign_id)
    sends = SendRecord.objects.filter(campaign_id=campaign_id)
    counts = dict.fromkeys(SendRecord.Status.values, 0)
    for row in sends.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    last = sends.filter(status=SendRecord.Status.SENT).order_by("-sent_at").values_list("sent_at", flat=True).first()
    return Progress(
        status=item.status,
        total=sum(counts.values()),
        counts=counts,
        started_at=item.started_at,
        finished_at=item.finished_at,
        last_sent_at=last,
    )


def pending_request(request_id: int) -> SubscriptionRequest | None:
    return SubscriptionRequest.objects.select_related("newsletter").filter(pk=request_id).first()


def newsletter_choices(*, person_id: int, language: str) -> list[dict[str, Any]]:
    """The newsletters a person may choose on their preference centre, each with whether they
    subscribe to it now (the subscription itself lives in ``tillit.consent``)."""
    subscribed = set(consent_selectors.own_choices(person_id=person_id)["subscriptions"])
    return [
        {
            "key": n.key,
            "name": label(n.name, language),
            "description": label(n.description, language),
            "subscribed": n.key in subscribed,
        }
        for n in newsletters()
    ]


# --- The phone call list (§8 "we may contact you by phone") ---------------------------------


def call_purposes(actor: Actor) -> list[str]:
    """The purposes the actor may make calls for: those whose phone basis is legitimate
    interest (no consent needed, an objection stops it) and for which the role sees the phone
    number (§10)."""
    current = policy.current()
    return [
        key
        for key, purpose in current.purposes.items()
        if purpose.bases.get("phone") == "legitimate_interest"
        and "phone" in purpose_rules.visible_categories(current, actor.role, key)
    ]


def _check_call_purpose(actor: Actor, purpose: str | None) -> str:
    allowed = call_purposes(actor)
    if not allowed:
        raise PermissionDeniedError("your role has no call list")
    if not purpose:
        return allowed[0]
    if purpose not in policy.current().purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    if purpose not in allowed:
        raise PermissionDeniedError(f"your role may not call people for {purpose!r}", field="purpose")
    return purpose


def callable_people(purpose: str) -> QuerySet[Person]:
    """Everyone who may be called for ``purpose`` now (the eligibility rule by phone, in SQL:
    told about the purpose, no objection to it, no objection to direct marketing and not
    suppressed unless answering a request they made since, and for ``sales_dialogue`` only
    people in an open dialogue) and has a number. The web page and its CSV export read this."""
    return consent_selectors.audience(purpose=purpose, channel="phone").exclude(phone="")


def call_list(*, actor: Actor, now: dt.datetime, purpose: str | None, page: int = 1) -> Page[dict[str, Any]]:
    """One page of the call list, read through the gate (only the fields the role may see for
    the purpose; each person shown audited)."""
    purpose = _check_call_purpose(actor, purpose)
    return people_selectors.people_among(
        actor=actor,
        now=now,
        purpose=purpose,
        among=callable_people(purpose),
        page=page,
        page_size=50,
        action="call_list",
    )


def call_list_rows(*, actor: Actor, now: dt.datetime, purpose: str | None) -> Iterator[dict[str, Any]]:
    """The whole call list for an export, in pages through the gate (bounded memory; every
    person exported audited)."""
    purpose = _check_call_purpose(actor, purpose)
    page = 1
    while True:
        result = people_selectors.people_among(
            actor=actor,
            now=now,
            purpose=purpose,
            among=callable_people(purpose),
            page=page,
            page_size=500,
            action="export",
        )
        yield from result.items
        if not result.has_next:
            return
        page += 1


@dataclass(frozen=True)
class CallingStatus:
    """What the call list says about marketing calls now (markedsføringsloven §§12, 14): the
    register data in force (its source and day, and the last day it may be called from),
    whether it is current, whether calls are permitted now, and when they may start."""

    applies: bool
    register_source: str = ""
    register_extracted_on: dt.date | None = None
    register_valid_until: dt.date | None = None
    register_current: bool = False
    within_hours: bool = False
    may_start_at: dt.datetime | None = None


def calling_status(*, purpose: str, now: dt.datetime) -> CallingStatus:
    """The telemarketing rules for a call list of ``purpose`` at ``now`` (only a purpose the
    policy marks ``marketing`` is telemarketing; the others are not limited by them)."""
    from tillit.policy import telemarketing

    rules = policy.current().telemarketing
    if rules is None or not policy.current().purposes[purpose].marketing:
        return CallingStatus(applies=False)
    extract = consent_selectors.reservation_extract()
    extracted_on = extract.extracted_on if extract else None
    return CallingStatus(
        applies=True,
        register_source=extract.source if extract else "",
        register_extracted_on=extracted_on,
        register_valid_until=telemarketing.register_valid_until(rules, extracted_on) if extracted_on else None,
        register_current=telemarketing.register_is_current(rules, extracted_on, now),
        within_hours=telemarketing.within_calling_hours(rules, now),
        may_start_at=telemarketing.calls_may_start(rules, now),
    )


def numbers_checked(person_ids: Sequence[int]) -> set[int]:
    """Which of the listed people's numbers the register data in force covers."""
    return consent_selectors.numbers_checked(person_ids=person_ids)


def call_log_purpose(actor: Actor, purpose: str) -> str:
    """The purpose a call from the list is logged under: the list's own if the role keeps calls
    (the ``correspondence`` category) for it, else the first call purpose of the role that does."""
    current = policy.current()
    for candidate in (purpose, *call_purposes(actor)):
        if "correspondence" in purpose_rules.visible_categories(current, actor.role, candidate):
            return candidate
    raise PermissionDeniedError("your role may not log calls", field="purpose")


def checked_call_purpose(actor: Actor, purpose: str | None) -> str:
    return _check_call_purpose(actor, purpose)
