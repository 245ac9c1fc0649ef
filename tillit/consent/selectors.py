"""Reads of the consent ledger: the current state derived from it, the notice versions, the
facts for the eligibility rule, and the suppression list."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import CharField, Exists, Func, OuterRef, Subquery

from tillit import policy
from tillit.consent.models import ConsentEvent, NoticeVersion, SuppressionEntry
from tillit.core.actors import Actor
from tillit.core.identifiers import identifier_digest, identifier_digests
from tillit.people.models import CustomerRelationship, Person
from tillit.policy import Policy, PolicyError
from tillit.policy import consent as rule
from tillit.policy import versions as policy_versions
from tillit.policy.loader import parse_policy

ALL_CHANNELS = "all"


def current_notice() -> NoticeVersion | None:
    """The notice version in force: the newest one published."""
    return NoticeVersion.objects.order_by("-published_at", "-pk").first()


def current_notice_id() -> int | None:
    """The id of the notice version in force (what every consent record points at)."""
    return NoticeVersion.objects.order_by("-published_at", "-pk").values_list("pk", flat=True).first()


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


def current_actions(*, person_ids: Iterable[int], purpose: str, channel: str) -> dict[int, str]:
    """The current state of one (purpose, channel) for many people at once, in one query: the
    action of each one's latest ledger event, as ``consent_state`` reads it for one person.
    People without an event for it are absent."""
    latest = (
        ConsentEvent.objects.filter(person_id=OuterRef("person_id"), purpose=purpose, channel=channel)
        .order_by("-occurred_at", "-pk")
        .values("action")[:1]
    )
    rows = (
        ConsentEvent.objects.filter(person_id__in=list(person_ids), purpose=purpose, channel=channel)
        .values("person_id")
        .distinct()
        .annotate(current=Subquery(latest))
    )
    return {r["person_id"]: r["current"] for r in rows}


def consent_history(*, person_id: int) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(person_id=person_id).order_by("-occurred_at", "-pk"))


def digests_for(email: str | None, phone: str | None) -> list[str]:
    return [d for _, d in identifier_digests(email=email, phone=phone, key=settings.TILLIT_IDENTIFIER_KEY)]


def is_suppressed(*, email: str | None = None, phone: str | None = None) -> bool:
    """Whether an address or number is on the suppression list (by keyed hash)."""
    digests = digests_for(email, phone)
    return bool(digests) and SuppressionEntry.objects.filter(digest__in=digests).exists()


def suppression_entry(*, email: str | None = None, phone: str | None = None) -> SuppressionEntry | None:
    """The earliest suppression list entry for an address or number (by keyed hash): when it
    was put there and why (objection, withdrawal, bounce, complaint). None if neither is on it."""
    digests = digests_for(email, phone)
    if not digests:
        return None
    return SuppressionEntry.objects.filter(digest__in=digests).order_by("created_at", "pk").first()


def suppressed_channels(*, email: str | None = None, phone: str | None = None) -> set[str]:
    """Which of an address (``email``) and a number (``phone``) are on the suppression list."""
    digests = digests_for(email, phone)
    if not digests:
        return set()
    return set(SuppressionEntry.objects.filter(digest__in=digests).values_list("channel", flat=True))


def contact_facts(*, person_id: int) -> rule.ContactFacts:
    """Everything the eligibility rule needs about one person, from a handful of queries."""
    from django.db.models import Max

    from tillit.people.models import Dialogue, Purchase
    from tillit.people.restrictions import restricted_ids

    person = Person.objects.filter(pk=person_id).values("email", "phone", "notice_version_id").first()
    if person is None:
        raise LookupError("no such person")
    state = consent_state(person_id=person_id)
    objected = {purpose for (purpose, _), action in state.items() if action == "objected"}
    objected_to_marketing = state.get(("direct_marketing", ALL_CHANNELS)) == "objected"
    digests = digests_for(person["email"], person["phone"])
    suppressed_at = (
        SuppressionEntry.objects.filter(digest__in=digests).aggregate(at=Max("created_at"))["at"] if digests else None
    )
    objected_at = (
        ConsentEvent.objects.filter(person_id=person_id, purpose="direct_marketing", channel=ALL_CHANNELS)
        .order_by("-occurred_at", "-pk")
        .values_list("occurred_at", flat=True)
        .first()
        if objected_to_marketing
        else None
    )
    stops = [at for at in (objected_at, suppressed_at) if at is not None]
    return rule.ContactFacts(
        email=person["email"],
        consents=state,
        objected_to_marketing=objected_to_marketing,
        objected_purposes=frozenset(objected),
        suppressed=suppressed_at is not None,
        stopped_at=max(stops, default=None),
        is_customer=CustomerRelationship.objects.filter(person_id=person_id, ended_at__isnull=True).exists(),
        purchases=tuple(
            rule.Purchase(order=o, product=p, at=at, opt_out_offered=bool(w), refused_at_collection=r, id=pk)
            for pk, o, p, at, w, r in Purchase.objects.filter(person_id=person_id).values_list(
                "pk", "order_number", "product", "purchased_at", "opt_out_wording", "opt_out_refused"
            )
        ),
        dialogues=tuple(
            rule.OpenDialogue(kind=k, opened_at=at, requested_at=req)
            for k, at, req in Dialogue.objects.filter(person_id=person_id, closed_at__isnull=True).values_list(
                "kind", "opened_at", "request__occurred_at"
            )
        ),
        informed_purposes=informed_purposes(person["notice_version_id"]),
        restricted=bool(restricted_ids([person_id])),
        consent_given_at=consent_dates(person_id=person_id),
        engaged_at=engaged_at(person_id=person_id),
        phone_reserved=is_reserved(phone=person["phone"]),
    )


def eligibility(
    *, person_id: int, purpose: str, channel: str, products: Iterable[str] = (), now: dt.datetime | None = None
) -> rule.Eligibility:
    """May we contact this person for ``purpose`` on ``channel`` now? (tillit.policy.consent)
    ``products``: the product or category keys the contact markets (the existing-customer
    exception holds only for similar products). ``now``: the moment judged (the consent
    lifetime); the clock's when not given."""
    from tillit.core.errors import ValidationError

    if purpose not in policy.current().purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    if channel not in policy.current().channels:
        raise ValidationError(f"unknown channel {channel!r}", field="channel")
    products = tuple(products)
    check_products(products)
    return rule.may_contact(
        policy.current(),
        contact_facts(person_id=person_id),
        purpose=purpose,
        channel=channel,
        products=products,
        now=_now(now),
    )


def check_products(products: Iterable[str]) -> None:
    """Every key is a product or a product category of the policy, else a ValidationError
    naming the field ``products``."""
    from tillit.core.errors import ValidationError

    current = policy.current()
    for key in products:
        if key not in current.products and key not in current.product_categories:
            raise ValidationError(f"unknown product or product category {key!r}", field="products")


def consent_overview(*, actor: Actor, now: dt.datetime, person_id: int, purpose: str | None = None) -> dict[str, Any]:
    """The person's consents as the read gate allows: the current state and the full ledger,
    for a role that sees the ``choices`` category for the purpose. Audited as a read."""
    from tillit.audit import services as audit
    from tillit.core.errors import PermissionDeniedError
    from tillit.people import selectors as people_selectors
    from tillit.policy import purposes as purpose_rules

    person = people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    if "choices" not in purpose_rules.visible_categories(policy.current(), actor.role, person["purpose"]):
        raise PermissionDeniedError("your role may not see consents for this purpose", field="purpose")
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="person",
        subject_id=person_id,
        purpose=person["purpose"],
        fields=["consent"],
    )
    state = consent_state(person_id=person_id)
    return {
        "purpose": person["purpose"],
        "state": [{"purpose": p, "channel": c, "action": a} for (p, c), a in sorted(state.items())],
        "events": [
            {
                "id": e.pk,
                "purpose": e.purpose,
                "channel": e.channel,
                "action": e.action,
                "basis": e.basis,
                "occurred_at": e.occurred_at,
                "source_kind": e.source_kind,
                "source_ref": e.source_ref,
                "wording": e.wording,
                "language": e.language,
                "notice_version": e.notice_version_id,
            }
            for e in consent_history(person_id=person_id)
        ],
    }


def person_id_for_pseudonym(pseudonym: str) -> int | None:
    """The person a link's pseudonymous id points to (None if erased or never existed)."""
    import uuid

    try:
        value = uuid.UUID(str(pseudonym))
    except ValueError:
        return None
    return Person.objects.filter(pseudonym=value).values_list("pk", flat=True).first()


def own_choices(*, person_id: int) -> dict[str, Any]:
    """What a person sees about themselves on their consent page: the consents they gave and
    have not withdrawn, their open subscriptions, whether they objected, and their language."""
    from tillit.consent.models import Subscription

    state = consent_state(person_id=person_id)
    person = Person.objects.filter(pk=person_id).values("language").first() or {"language": "en"}
    return {
        "language": person["language"],
        "given": sorted({p for (p, _), action in state.items() if action == "given"}),
        "objected": state.get(("direct_marketing", ALL_CHANNELS)) == "objected",
        "subscriptions": list(
            Subscription.objects.filter(person_id=person_id, unsubscribed_at__isnull=True).values_list(
                "newsletter", flat=True
            )
        ),
    }


def outdated_versions() -> list[int]:
    """Notice versions that do not name every purpose of the policy in force."""
    purposes = set(policy.current().purposes)
    return [pk for pk, named in NoticeVersion.objects.values_list("pk", "purposes") if not purposes <= set(named)]


def people_to_inform() -> Any:
    """The people who must be told about a purpose before it may be used for them (§14): those
    given a notice that lacks a purpose of the policy in force, or no notice. A queryset."""
    from django.db.models import Q

    return Person.objects.filter(Q(notice_version_id__in=outdated_versions()) | Q(notice_version__isnull=True))


def missing_purposes(version_id: int | None) -> list[str]:
    named = informed_purposes(version_id)
    return [p for p in policy.current().purposes if p not in named]


def audience(
    *,
    purpose: str,
    channel: str,
    newsletter: str | None = None,
    products: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> Any:
    """Everyone we may contact for ``purpose`` on ``channel`` now, as one set-based query (a
    queryset of people), for sends and call lists: the same rule as ``tillit.policy.consent.
    may_contact``, expressed in SQL (a test keeps the two in agreement). With ``newsletter``,
    only its open subscribers; ``products``: what a campaign markets (the existing-customer
    exception). Each person carries ``send_reason``: why the rule allows them, in the reason
    codes of the rule's ``Eligibility`` (``Eligibility.recorded``: with the order for the
    existing-customer exception), recorded with every send. ``now``: the moment judged (the
    consent lifetime, ``consent_fresh_q``); the clock's when not given."""
    from django.db.models import Case, CharField, Exists, Q, Value, When
    from django.db.models.functions import Concat

    from tillit.consent.models import Subscription
    from tillit.core.errors import ValidationError
    from tillit.people.models import Dialogue, Purchase
    from tillit.people.restrictions import restricted_q

    current = policy.current()
    if purpose not in current.purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    if channel not in current.channels:
        raise ValidationError(f"unknown channel {channel!r}", field="channel")
    products = tuple(products)
    check_products(products)
    rule_ = current.purposes[purpose]
    basis = rule_.bases.get(channel)
    people = Person.objects.all()
    nobody = people.none().annotate(send_reason=Value("", output_field=CharField()))
    if basis is None:
        return nobody
    if newsletter is not None:
        people = people.filter(
            Exists(Subscription.objects.filter(person=OuterRef("pk"), newsletter=newsletter, unsubscribed_at=None))
        )
    if basis == "legal_obligation":
        return people.annotate(send_reason=Value("legal_obligation", output_field=CharField()))
    people = people.filter(notice_version_id__in=versions_with_purpose(purpose))
    people = people.exclude(restricted_q())  # art. 18: stored, not used

    def latest_events(p: str, c: str, actions: tuple[str, ...], person: Any) -> Any:
        later = ConsentEvent.objects.filter(
            person=OuterRef("person"), purpose=p, channel=c, occurred_at__gt=OuterRef("occurred_at")
        )
        return ConsentEvent.objects.filter(person=person, purpose=p, channel=c, action__in=actions).exclude(
            Exists(later)
        )

    def latest_is(p: str, c: str, actions: tuple[str, ...]) -> Exists:
        return Exists(latest_events(p, c, actions, OuterRef("pk")))

    objected_to_marketing = latest_is("direct_marketing", ALL_CHANNELS, ("objected",))
    if rule_.marketing:
        people = exclude_suppressed(people.exclude(objected_to_marketing))
    if rule_.objectable:
        objected_any = ConsentEvent.objects.filter(person=OuterRef("pk"), purpose=purpose, action="objected")
        later_given = ConsentEvent.objects.filter(
            person=OuterRef("person"),
            purpose=purpose,
            channel=OuterRef("channel"),
            occurred_at__gt=OuterRef("occurred_at"),
        )
        people = people.exclude(Exists(objected_any.exclude(Exists(later_given))))
    kinds = sorted(rule.dialogue_kinds(current, purpose))
    open_dialogues = Dialogue.objects.filter(person=OuterRef("pk"), closed_at=None, kind__in=kinds)
    if rule_.requires == "open_dialogue":
        people = people.filter(Exists(open_dialogues))
    if not rule_.marketing and channel in rule.CONTACT_CHANNELS and basis != "contract":
        # An objection to direct marketing or the suppression list stops this contact too,
        # unless it answers a request the person made after them (rule.answers_own_request).
        since = OuterRef("request__occurred_at")
        answers = open_dialogues.filter(request__isnull=False).exclude(
            Exists(
                latest_events("direct_marketing", ALL_CHANNELS, ("objected",), OuterRef("person")).filter(
                    occurred_at__gte=since
                )
            )
        )
        for kind in ("email", "phone"):
            answers = answers.exclude(
                Exists(
                    SuppressionEntry.objects.filter(
                        channel=kind, digest=KeyedDigest(kind, OuterRef(f"person__{kind}")), created_at__gte=since
                    )
                )
            )
        stopped = Q(objected_to_marketing) | Q(suppressed_q())
        people = people.exclude(stopped & ~Q(Exists(answers)))
    active_customer = Exists(CustomerRelationship.objects.filter(person=OuterRef("pk"), ended_at=None))
    if rule_.marketing and channel == "phone":
        people = exclude_reserved(people, purpose=purpose, products=products, active_customer=active_customer)
    if basis == "consent":
        given = Q(latest_is(purpose, channel, ("given",))) & consent_fresh_q(purpose, channel, now=_now(now))
        allowed = given
        withdrawn = latest_is(purpose, channel, ("withdrawn", "objected"))
        # Why each person may be contacted: the same reason codes as the rule's Eligibility.
        why = [When(given, then=Value("consent"))]
        if channel == "email":
            role_address = Q()
            for local in sorted(rule.ROLE_LOCAL_PARTS):
                role_address |= Q(email__istartswith=f"{local}@")
            allowed |= role_address & ~Q(withdrawn)
            why.append(When(role_address, then=Value("role_address")))
        similar = sorted(rule.similar_products(current, products))
        if channel == "email" and rule.EXISTING_CUSTOMER in rule_.exceptions.get(channel, ()) and similar:
            offers = (
                Purchase.objects.filter(person=OuterRef("pk"), product__in=similar)
                .exclude(opt_out_wording="")
                .order_by("-purchased_at", "-pk")
            )
            refused = Purchase.objects.filter(person=OuterRef("pk"), opt_out_refused=True)
            from_sale = Q(active_customer) & Q(Exists(offers)) & ~Q(Exists(refused))
            allowed |= from_sale & ~Q(withdrawn)
            order = Subquery(offers.values("order_number")[:1])
            why.append(When(from_sale, then=Concat(Value(f"{rule.EXISTING_CUSTOMER}:order="), order)))
        return people.filter(allowed).annotate(send_reason=Case(*why, default=Value(""), output_field=CharField()))
    if basis == "legitimate_interest":
        return people.exclude(latest_is(purpose, channel, ("withdrawn", "objected"))).annotate(
            send_reason=Value("legitimate_interest", output_field=CharField())
        )
    if basis == "contract":
        return people.filter(active_customer).annotate(send_reason=Value("contract", output_field=CharField()))
    return nobody


def notice_with_digest(digest: str) -> NoticeVersion | None:
    """The notice version with exactly these texts (its SHA-256 content hash), if published."""
    return NoticeVersion.objects.filter(digest=digest).first()


def notice_version_by_prefix(prefix: str) -> NoticeVersion | None:
    """The notice version whose content hash starts with ``prefix`` (the short hash shown on
    the notice, 8 hex digits or more); None if there is none, or more than one."""
    found = list(NoticeVersion.objects.filter(digest__startswith=prefix.lower())[:2])
    return found[0] if len(found) == 1 else None


# The suppression list in SQL. Appended as one block.
class KeyedDigest(Func):
    """The SQL twin of ``tillit.core.identifiers.identifier_digest``: HMAC-SHA256 of
    ``"<kind>:<value>"`` under the identifier key, as hex, computed by the database (on
    PostgreSQL from ``sha256()`` and the key's inner and outer pads, RFC 2104; on SQLite by a
    registered function). Lets a set-based query skip suppressed people without reading them."""

    output_field = CharField()

    def __init__(self, kind: str, expression: Any) -> None:
        super().__init__(expression)
        self.kind = kind

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        value_sql, value_params = compiler.compile(self.source_expressions[0])
        key = settings.TILLIT_IDENTIFIER_KEY.encode()
        if connection.vendor == "postgresql":
            if len(key) > 64:
                key = hashlib.sha256(key).digest()
            key = key.ljust(64, b"\0")
            inner, outer = bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
            sql = f"encode(sha256(%s::bytea || sha256(%s::bytea || convert_to(%s || {value_sql}, 'UTF8'))), 'hex')"
            return sql, [outer, inner, f"{self.kind}:", *value_params]
        connection.ensure_connection()
        connection.connection.create_function("tillit_keyed_digest", 2, _sqlite_digest, deterministic=True)
        return f"tillit_keyed_digest(%s, {value_sql})", [self.kind, *value_params]


def _sqlite_digest(kind: str | None, value: str | None) -> str | None:
    if kind is None or value is None:
        return None
    return identifier_digest(kind, value, key=settings.TILLIT_IDENTIFIER_KEY)


def suppressed_q() -> Any:
    """A condition on people: their email address or phone number is on the suppression list
    (``is_suppressed``, for a whole set in one query)."""
    from django.db.models import Exists, Q

    return Q(
        Exists(SuppressionEntry.objects.filter(channel="email", digest=KeyedDigest("email", OuterRef("email"))))
    ) | Q(Exists(SuppressionEntry.objects.filter(channel="phone", digest=KeyedDigest("phone", OuterRef("phone")))))


def exclude_suppressed(people: Any) -> Any:
    """``people`` (a queryset) without anyone whose email address or phone number is on the
    suppression list."""
    return people.exclude(suppressed_q())


# The published policy versions (§14), for judging the past by the rules of its time.


@functools.lru_cache(maxsize=32)
def _parsed(digest: str, text: str) -> Policy | None:
    try:
        return parse_policy(text, digest=digest)
    except PolicyError:
        return None


def published_policies() -> list[tuple[dt.datetime, Policy]]:
    """Every published policy version, oldest first, as (in force from, the policy). A stored
    text the loader of today cannot read (a key since made required) is judged by the policy
    in force now, which is the closest reading we have of it."""
    from tillit.consent.models import PolicyVersion

    result = []
    for digest, text, published_at in PolicyVersion.objects.order_by("published_at", "pk").values_list(
        "digest", "text", "published_at"
    ):
        parsed = _parsed(digest, text) if digest != policy.current().digest else policy.current()
        result.append((published_at, parsed if parsed is not None else policy.current()))
    return result


def policy_in_force(versions: list[tuple[dt.datetime, Policy]], at: dt.datetime | None) -> Policy:
    """The policy version in force at ``at`` (``tillit.policy.versions.in_force``), or the
    policy loaded now when none was published."""
    return policy_versions.in_force(versions, at, fallback=policy.current())


# Consent has a lifetime (§5, ``[consent_lifetime]``; tillit.policy.consent.consent_lapsed).


def _now(now: dt.datetime | None) -> dt.datetime:
    from django.utils import timezone

    return now if now is not None else timezone.now()


def engagement_q(prefix: str = "") -> Any:
    """A condition on interactions (or, with ``prefix``, on rows reaching them): the person's
    own engagement (``tillit.policy.consent.is_engagement``)."""
    from django.db.models import Q

    lifetime = policy.current().consent_lifetime
    return Q(
        **{
            f"{prefix}direction": "inbound",
            f"{prefix}kind__in": sorted(lifetime.engagement_inbound_kinds),
        }
    ) | Q(
        **{
            f"{prefix}direction": "outbound",
            f"{prefix}reached": True,
            f"{prefix}kind__in": sorted(lifetime.engagement_answered_outbound_kinds),
        }
    )


def engaged_at(*, person_id: int) -> dt.datetime | None:
    """When the person last engaged with us (an interaction ``is_engagement`` counts)."""
    from django.db.models import Max

    from tillit.people.models import Interaction

    found: dt.datetime | None = Interaction.objects.filter(engagement_q(), person_id=person_id).aggregate(
        at=Max("occurred_at")
    )["at"]
    return found


def consent_dates(*, person_id: int) -> dict[tuple[str, str], dt.datetime]:
    """When the latest ledger entry per (purpose, channel) was made (with ``consent_state``:
    when the consent in force was given or last renewed)."""
    latest = (
        ConsentEvent.objects.filter(person_id=person_id, purpose=OuterRef("purpose"), channel=OuterRef("channel"))
        .order_by("-occurred_at", "-pk")
        .values("occurred_at")[:1]
    )
    rows = (
        ConsentEvent.objects.filter(person_id=person_id)
        .values("purpose", "channel")
        .distinct()
        .annotate(at=Subquery(latest))
    )
    return {(r["purpose"], r["channel"]): r["at"] for r in rows}


def consent_fresh_q(purpose: str, channel: str, *, now: dt.datetime) -> Any:
    """A condition on people: their consent for ``purpose`` on ``channel`` has not lapsed at
    ``now``: a ledger entry for it, or an engagement, after the cutoff (the SQL twin of
    ``tillit.policy.consent.consent_lapsed``, applied with "the latest entry is given")."""
    from django.db.models import Exists, Q

    from tillit.people.models import Interaction

    cutoff = rule.consent_cutoff(policy.current(), purpose, now)
    if cutoff is None:
        return Q()
    recent_entry = ConsentEvent.objects.filter(
        person=OuterRef("pk"), purpose=purpose, channel=channel, occurred_at__gt=cutoff
    )
    recent_engagement = Interaction.objects.filter(engagement_q(), person=OuterRef("pk"), occurred_at__gt=cutoff)
    return Q(Exists(recent_entry)) | Q(Exists(recent_engagement))


# The Reservasjonsregisteret (markedsføringsloven §§12-13): the clause of the rule
# ``tillit.policy.consent.reservation_allows`` in SQL, and the register data in force.


def reservation_extract() -> Any:
    """The register data in force: the newest extract (file or lookup), or None."""
    from tillit.consent.models import ReservationExtract

    return ReservationExtract.objects.order_by("-extracted_on", "-pk").first()


def is_reserved(*, phone: str | None) -> bool:
    """Whether a number is reserved against telemarketing in the register data in force."""
    from tillit.consent.models import ReservedNumber

    extract = reservation_extract()
    if not phone or extract is None:
        return False
    digest = identifier_digest("phone", phone, key=settings.TILLIT_IDENTIFIER_KEY)
    return ReservedNumber.objects.filter(extract=extract, digest=digest, reserved=True).exists()


def reserved_q() -> Any:
    """A condition on people: their number is reserved in the register data in force."""
    from django.db.models import Exists, Q

    from tillit.consent.models import ReservedNumber

    extract = reservation_extract()
    if extract is None:
        return Q(pk__in=[])
    return Q(
        Exists(
            ReservedNumber.objects.filter(
                extract=extract, reserved=True, digest=KeyedDigest("phone", OuterRef("phone"))
            )
        )
    )


def exclude_reserved(people: Any, *, purpose: str, products: Iterable[str], active_customer: Any) -> Any:
    """``people`` without those a marketing call may not reach because their number is
    reserved (``rule.reservation_allows``): kept if their latest ledger event for the purpose
    by phone is a consent, or they are a current customer (with a purchase of a product similar
    to ``products`` when a call names them)."""
    from django.db.models import Exists, Q

    from tillit.people.models import Purchase

    later = ConsentEvent.objects.filter(
        person=OuterRef("person"), purpose=purpose, channel="phone", occurred_at__gt=OuterRef("occurred_at")
    )
    asked = Exists(
        ConsentEvent.objects.filter(person=OuterRef("pk"), purpose=purpose, channel="phone", action="given").exclude(
            Exists(later)
        )
    )
    customer = Q(active_customer)
    marketed = tuple(products)
    if marketed:
        similar = sorted(rule.similar_products(policy.current(), marketed))
        customer &= Q(Exists(Purchase.objects.filter(person=OuterRef("pk"), product__in=similar)))
    return people.exclude(Q(reserved_q()) & ~Q(asked) & ~customer)


def numbers_checked(*, person_ids: Iterable[int]) -> set[int]:
    """Which of these people's numbers the register data in force covers: all of them for a
    complete extract, else those the lookup was asked about (mfl. §12: checked before a call)."""
    from tillit.consent.models import ReservedNumber

    ids = list(person_ids)
    extract = reservation_extract()
    if extract is None:
        return set()
    if extract.complete:
        return set(ids)
    return set(
        Person.objects.filter(pk__in=ids)
        .exclude(phone="")
        .filter(Exists(ReservedNumber.objects.filter(extract=extract, digest=KeyedDigest("phone", OuterRef("phone")))))
        .values_list("pk", flat=True)
    )
