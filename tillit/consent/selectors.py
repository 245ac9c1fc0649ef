"""Reads of the consent ledger: the current state derived from it, the notice versions, the
facts for the eligibility rule, and the suppression list."""

from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, Subquery

from tillit import policy
from tillit.consent.models import ConsentEvent, NoticeVersion, SuppressionEntry
from tillit.core.identifiers import identifier_digest
from tillit.people.models import CustomerRelationship, Person, Provenance
from tillit.policy import consent as rule

ALL_CHANNELS = "all"


def current_notice() -> NoticeVersion | None:
    """The notice version in force: the newest one published."""
    return NoticeVersion.objects.order_by("-published_at", "-pk").first()


def notice_versions() -> list[NoticeVersion]:
    return list(NoticeVersion.objects.order_by("-published_at", "-pk"))


def versions_with_purpose(purpose: str) -> list[int]:
    """Ids of the notice versions that tell people about ``purpose`` (there are few)."""
    return [pk for pk, purposes in NoticeVersion.objects.values_list("pk", "purposes") if purpose in purposes]


def informed_purposes(version_id: int | None) -> frozenset[str]:
    if version_id is None:
        return frozenset()
    purposes = NoticeVersion.objects.filter(pk=version_id).values_list("purposes", flat=True).first()
    return frozenset(purposes or ())


def consent_state(*, person_id: int) -> dict[tuple[str, str], str]:
    """The current state per (purpose, channel): the action of the latest ledger event."""
    latest = (
        ConsentEvent.objects.filter(person_id=person_id, purpose=OuterRef("purpose"), channel=OuterRef("channel"))
        .order_by("-occurred_at", "-pk")
        .values("action")[:1]
    )
    rows = (
        ConsentEvent.objects.filter(person_id=person_id)
        .values("purpose", "channel")
        .distinct()
        .annotate(current=Subquery(latest))
    )
    return {(r["purpose"], r["channel"]): r["current"] for r in rows}


def consent_history(*, person_id: int) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(person_id=person_id).order_by("-occurred_at", "-pk"))


def digests_for(email: str | None, phone: str | None) -> list[str]:
    key = settings.TILLIT_IDENTIFIER_KEY
    found = []
    if email:
        found.append(identifier_digest("email", email, key=key))
    if phone:
        found.append(identifier_digest("phone", phone, key=key))
    return found


def is_suppressed(*, email: str | None = None, phone: str | None = None) -> bool:
    """Whether an address or number is on the suppression list (by keyed hash)."""
    digests = digests_for(email, phone)
    return bool(digests) and SuppressionEntry.objects.filter(digest__in=digests).exists()


def contact_facts(*, person_id: int) -> rule.ContactFacts:
    """Everything the eligibility rule needs about one person, from a handful of queries."""
    person = Person.objects.filter(pk=person_id).values("email", "phone", "notice_version_id").first()
    if person is None:
        raise LookupError("no such person")
    state = consent_state(person_id=person_id)
    objected = {purpose for (purpose, _), action in state.items() if action == "objected"}
    return rule.ContactFacts(
        email=person["email"],
        consents=state,
        objected_to_marketing=state.get(("direct_marketing", ALL_CHANNELS)) == "objected",
        objected_purposes=frozenset(objected),
        suppressed=is_suppressed(email=person["email"], phone=person["phone"]),
        is_customer=CustomerRelationship.objects.filter(person_id=person_id, ended_at__isnull=True).exists(),
        address_from_sale=Provenance.objects.filter(person_id=person_id, field="email", source="order").exists(),
        optout_offered_at_collection=Provenance.objects.filter(
            person_id=person_id, field="email", source="order", detail__contains="opt-out offered"
        ).exists(),
        informed_purposes=informed_purposes(person["notice_version_id"]),
    )


def eligibility(*, person_id: int, purpose: str, channel: str) -> rule.Eligibility:
    """May we contact this person for ``purpose`` on ``channel`` now? (tillit.policy.consent)"""
    return rule.may_contact(policy.current(), contact_facts(person_id=person_id), purpose=purpose, channel=channel)
