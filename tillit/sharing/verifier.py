"""``tillit verify``: every place where the live data and the published policy disagree.

Each check is a set-based query (or a few, per chunk) whose rows stream through a generator,
so memory stays bounded whatever the size of the database; a rule that lives in
``tillit.policy`` is applied to the rows, never restated. Each violation has a ``kind`` and a
pseudonymous ``subject`` (a person's pseudonym, a ledger or audit entry number, a field's
name), never personal data. Reads, sends and disclosures are judged by the policy version in
force when they happened (``consent.selectors.published_policies``, §14), not by today's:

- ``past_deadline``: a person the retention rule (§9), applied to the live facts (the
  interactions themselves, subscriptions, customer relationships), says is past the deadline;
- ``customer_without_deadline``: a customer with no active service whose relationship has
  ended by the rule (no order for the policy's months) but who has no deadline (§9);
- ``consent_without_wording`` / ``consent_without_notice``: a consent ledger entry without the
  wording shown, or without the notice version in force (GDPR art. 7(1));
- ``send_without_basis``: a marketing email sent without a legal basis recorded at send time;
- ``send_to_suppressed``: a marketing email sent to an address on the suppression list then;
- ``disclosure_forbidden_field`` / ``disclosure_forbidden_time``: a disclosure ledger row with
  a category partners may not have, or made when the dialogue was not open, the person not in
  it, or after they objected (§11; ``tillit.policy.disclosure.ledger_problems``);
- ``read_by_forbidden_role``: an audited read of personal data by a role, for a purpose or of a
  field that the policy does not give that role (§10; ``tillit.policy.purposes``);
- ``audit_chain_broken``: an audit entry edited, deleted or reordered;
- ``art14_not_informed``: a person obtained from an indirect source more than a month ago who
  was neither told nor exempt (GDPR art. 14; ``tillit.policy.indirect``);
- ``ledger_entry_altered`` / ``ledger_entry_deleted`` / ``ledger_entry_inserted`` /
  ``ledger_chain_broken``: an entry of the consent ledger, the cookie choices or the disclosure
  ledger whose content no longer matches its seal (a rewritten wording, a moved date), that is
  gone without an erasure's removal mark, that has no seal (written past the services), or
  whose seal is missing or out of place in its chain (``tillit.audit.ledgers``);
- ``send_on_expired_consent``: a marketing email sent on consent when that consent had lapsed
  (§5, ``[consent_lifetime]``: neither given again nor any engagement of the person's within
  the purpose's lifetime before the send; ``tillit.policy.consent.consent_lapsed``);
- ``unclassified_field``: a model field missing from the classification registry, or classified
  with a category the policy does not define (DESIGN.md rule 6);
- ``send_after_objection``: a marketing email claimed (sending, sent, bounced) after the person
  objected to it, withdrew its purpose on email, or left its newsletter (issue 24);
- ``deadline_differs``: a stored retention deadline that the rule, applied to the person's facts
  now, puts elsewhere: too early (an erasure the facts do not allow) or too late (issue 24).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min

from tillit import policy
from tillit.audit import ledgers
from tillit.audit import selectors as audit_selectors
from tillit.audit.models import AuditEntry
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent, Subscription, SuppressionEntry
from tillit.consent.services import OBJECTION_ONLY_PURPOSES
from tillit.core.identifiers import identifier_digests
from tillit.people.models import CustomerRelationship, Interaction, Person, Restriction
from tillit.policy import classification
from tillit.policy import disclosure as disclosure_rule
from tillit.policy import purposes as purpose_rules
from tillit.policy import restriction as restriction_rule
from tillit.policy import retention as retention_rule
from tillit.policy.assessments import partner_role_problem
from tillit.sharing.models import Dialogue, DialogueMember, DisclosedPerson, Partner, VerifyRun

KINDS = (
    "past_deadline",
    "customer_without_deadline",
    "consent_without_wording",
    "consent_without_notice",
    "send_without_basis",
    "send_to_suppressed",
    "disclosure_forbidden_field",
    "disclosure_forbidden_time",
    "read_by_forbidden_role",
    "audit_chain_broken",
    "unclassified_field",
    "art14_not_informed",
    "ledger_entry_altered",
    "ledger_entry_deleted",
    "ledger_entry_inserted",
    "ledger_chain_broken",
    "send_after_objection",
    "deadline_differs",
    "send_on_expired_consent",
    "partner_role_without_policy",
)
CHUNK = 5_000
# How many violations a stored run keeps (the counts are always complete).
KEEP = 2_000


@dataclass(frozen=True)
class Violation:
    kind: str
    subject: str  # a pseudonymous id: person:<uuid>, consent:#12, audit:#17, field:app.Model.f
    detail: str = ""  # a short explanation without personal data


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def violations(*, now: dt.datetime) -> Iterator[Violation]:
    """Every violation, check by check, streamed."""
    yield from unclassified_fields()
    yield from past_deadline(now=now)
    yield from customers_without_deadline(now=now)
    yield from consents_without_evidence()
    yield from marketing_sends()
    yield from disclosures()
    yield from forbidden_reads()
    yield from broken_audit_chain()
    yield from indirect_not_informed(now=now)
    yield from tampered_ledgers()
    yield from restricted_processing(now=now)
    yield from sends_after_objection()
    yield from deadlines_differ()
    yield from sends_on_expired_consent()
    yield from partner_roles()


def run(*, now: dt.datetime, emit: Callable[[Violation], None] | None = None) -> Report:
    """Run every check; ``emit`` is called with each violation as it is found."""
    started = time.perf_counter()
    report = Report()
    for violation in violations(now=now):
        report.counts[violation.kind] += 1
        if emit is not None:
            emit(violation)
    report.seconds = time.perf_counter() - started
    return report


def store(*, started_at: dt.datetime, report: Report, kept: Sequence[Violation], actor_label: str) -> VerifyRun:
    """Keep a run for the privacy officer's history (the counts complete, the first violations)."""
    return VerifyRun.objects.create(
        started_at=started_at,
        finished_at=started_at + dt.timedelta(seconds=report.seconds),
        seconds=round(report.seconds, 3),
        total=report.total,
        counts={kind: report.counts.get(kind, 0) for kind in KINDS},
        violations=[{"kind": v.kind, "subject": v.subject, "detail": v.detail} for v in kept[:KEEP]],
        truncated=report.total > len(kept[:KEEP]),
        actor_label=actor_label,
    )


def run_and_store(*, now: dt.datetime, actor_label: str) -> VerifyRun:
    kept: list[Violation] = []

    def keep(violation: Violation) -> None:
        if len(kept) < KEEP:
            kept.append(violation)

    report = run(now=now, emit=keep)
    return store(started_at=now, report=report, kept=kept, actor_label=actor_label)


# --- streaming helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    # On PostgreSQL a transaction lets server-side cursors stream; not on SQLite, where the
    # IMMEDIATE transaction mode would take the write lock.
    if connection.vendor == "postgresql":
        with transaction.atomic():
            yield
    else:
        yield


def _rows(sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of a query, fetched ``CHUNK`` at a time (a server-side cursor on PostgreSQL)."""
    with _reading():
        cursor = connection.chunked_cursor() if connection.vendor == "postgresql" else connection.cursor()
        try:
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(CHUNK)
                if not rows:
                    return
                yield from rows
        finally:
            cursor.close()


def _moment(value: Any) -> dt.datetime | None:
    """PostgreSQL returns aware datetimes; SQLite text or naive UTC ones."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


def _pseudonym(value: Any) -> str:
    return str(uuid.UUID(str(value))) if not isinstance(value, uuid.UUID) else str(value)


# --- the checks ------------------------------------------------------------------------------------


def unclassified_fields() -> Iterator[Violation]:
    known = set(policy.current().categories)
    for model in apps.get_models():
        if not model.__module__.startswith("tillit."):
            continue
        for f in model._meta.get_fields():
            if f.auto_created and not f.concrete:
                continue
            key = f"{model._meta.app_label}.{model.__name__}.{f.name}"
            category = classification.classify(key)
            if category is None:
                yield Violation("unclassified_field", f"field:{key}", "not in the classification registry")
            elif category not in classification.MARKERS and category not in known:
                yield Violation("unclassified_field", f"field:{key}", f"category {category!r} is not in the policy")


def past_deadline(*, now: dt.datetime) -> Iterator[Violation]:
    """People past their deadline by the rule applied to the live facts. The query narrows the
    candidates (every ground older than its period, with two days to spare for the calendar);
    the rule itself (``tillit.policy.retention.retain_until``) decides for each candidate."""
    current = policy.current()
    rules = current.retention
    slack = dt.timedelta(days=2)
    dialogue_cut = retention_rule.add_years(now, -rules.dialogue.years) + slack
    newsletter_cut = retention_rule.add_years(now, -rules.newsletter.years_after_unsubscribe) + slack
    inbound = sorted(rules.dialogue.inbound_kinds) or ["-"]
    answered = sorted(rules.dialogue.answered_outbound_kinds) or ["-"]
    person, interaction = Person._meta.db_table, Interaction._meta.db_table
    subscription, customer = Subscription._meta.db_table, CustomerRelationship._meta.db_table
    restriction, held = Restriction._meta.db_table, sorted(restriction_rule.HOLDS_DATA)
    true = "TRUE" if connection.vendor == "postgresql" else "1"
    sql = (
        f"SELECT p.pseudonym, p.created_at, c.last_contact, s.last_left, r.last_end "  # noqa: S608 (model tables)
        f"FROM {person} p "
        f"LEFT JOIN (SELECT person_id, MAX(occurred_at) AS last_contact FROM {interaction} "
        f"  WHERE (direction = 'inbound' AND kind IN ({', '.join(['%s'] * len(inbound))})) "
        f"     OR (direction = 'outbound' AND reached = {true} AND kind IN ({', '.join(['%s'] * len(answered))})) "
        f"  GROUP BY person_id) c ON c.person_id = p.id "
        f"LEFT JOIN (SELECT person_id, SUM(CASE WHEN unsubscribed_at IS NULL THEN 1 ELSE 0 END) AS open, "
        f"  MAX(unsubscribed_at) AS last_left FROM {subscription} GROUP BY person_id) s ON s.person_id = p.id "
        f"LEFT JOIN (SELECT person_id, SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) AS open, "
        f"  MAX(ended_at) AS last_end FROM {customer} GROUP BY person_id) r ON r.person_id = p.id "
        "WHERE p.created_at <= %s AND (c.last_contact IS NULL OR c.last_contact <= %s) "
        "AND COALESCE(s.open, 0) = 0 AND (s.last_left IS NULL OR s.last_left <= %s) "
        "AND COALESCE(r.open, 0) = 0 AND (r.last_end IS NULL OR r.last_end <= %s) "
        # A restriction on grounds that keep the data (art. 18(1)(b), (c)) holds it until lifted.
        f"AND NOT EXISTS (SELECT 1 FROM {restriction} x WHERE x.person_id = p.id AND x.lifted_at IS NULL "
        f"  AND x.grounds IN ({', '.join(['%s'] * len(held))})) "
        "ORDER BY p.id"
    )
    cuts = [dialogue_cut, dialogue_cut, newsletter_cut, dialogue_cut]
    params = [*inbound, *answered, *(connection.ops.adapt_datetimefield_value(c) for c in cuts), *held]
    for pseudonym, created_at, last_contact, last_left, last_end in _rows(sql, params):
        decision = retention_rule.retain_until(
            current,
            retention_rule.RetentionFacts(
                registered_at=_moment(created_at),  # type: ignore[arg-type]
                last_contact_at=_moment(last_contact),
                unsubscribed_at=_moment(last_left),
                customer_ended_at=_moment(last_end),
            ),
        )
        if retention_rule.is_past_deadline(decision, now):
            assert decision.retain_until is not None
            yield Violation(
                "past_deadline",
                f"person:{_pseudonym(pseudonym)}",
                f"{decision.reason} deadline {decision.retain_until:%Y-%m-%d}",
            )


def customers_without_deadline(*, now: dt.datetime) -> Iterator[Violation]:
    """Customers whose relationship has ended by the rule (no active service, no order for
    ``retention.customer.months_after_last_order`` months; ``customer_relationship_ends_at``)
    but who are still stored without a deadline, so no sweep would ever release them (§9)."""
    from tillit.capture.models import OrderLine, ServiceSubscription

    current = policy.current()
    person, customer = Person._meta.db_table, CustomerRelationship._meta.db_table
    service, order = ServiceSubscription._meta.db_table, OrderLine._meta.db_table
    subscription = Subscription._meta.db_table
    sql = (
        f"SELECT p.pseudonym, p.created_at, r.since, "  # noqa: S608 (model tables)
        f"(SELECT MAX(o.ordered_at) FROM {order} o WHERE o.person_id = p.id) "
        f"FROM {person} p "
        f"JOIN (SELECT person_id, MIN(started_at) AS since FROM {customer} WHERE ended_at IS NULL "
        f"  GROUP BY person_id) r ON r.person_id = p.id "
        f"WHERE p.retain_until IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {service} v WHERE v.person_id = p.id AND v.cancelled_at IS NULL) "
        # A subscriber has no deadline while subscribed (§9), customer or not.
        f"AND NOT EXISTS (SELECT 1 FROM {subscription} s WHERE s.person_id = p.id AND s.unsubscribed_at IS NULL) "
        "ORDER BY p.id"
    )
    for pseudonym, created_at, since, last_order in _rows(sql, []):
        ends_at = retention_rule.customer_relationship_ends_at(
            current,
            retention_rule.RetentionFacts(
                registered_at=_moment(created_at),  # type: ignore[arg-type]
                is_customer=True,
                customer_since=_moment(since),
                last_order_at=_moment(last_order),
            ),
        )
        if ends_at is not None and ends_at <= now:
            yield Violation(
                "customer_without_deadline",
                f"person:{_pseudonym(pseudonym)}",
                f"no active service and no order since; the relationship ended {ends_at:%Y-%m-%d}",
            )


def consents_without_evidence() -> Iterator[Violation]:
    rows = (
        ConsentEvent.objects.filter(wording__regex=r"^\s*$")
        .order_by("pk")
        .values_list("pk", "person__pseudonym", "notice_version_id")
    )
    for pk, pseudonym, _ in rows.iterator(chunk_size=CHUNK):
        yield Violation("consent_without_wording", f"consent:#{pk} person:{pseudonym}", "no wording recorded")
    missing = ConsentEvent.objects.filter(notice_version__isnull=True).order_by("pk")
    for pk, pseudonym in missing.values_list("pk", "person__pseudonym").iterator(chunk_size=CHUNK):
        yield Violation("consent_without_notice", f"consent:#{pk} person:{pseudonym}", "no notice version")


def marketing_sends() -> Iterator[Violation]:
    """Every marketing email sent, against the consent rule as it stood when it went: the
    ledger entries, objections, customer relationships and provenance up to ``sent_at`` are
    fed to ``tillit.policy.consent.may_contact`` for the campaign's purpose on email (a send
    the rule refuses had no basis at send time); and its address against the suppression list
    as it stood then. From the marketing app's per-recipient send records."""
    try:
        send_model = apps.get_model("marketing", "SendRecord")
    except LookupError:
        return
    names = {f.name for f in send_model._meta.concrete_fields}
    sent = send_model.objects.filter(status="sent").order_by("pk")
    columns = ["pk", "person_id", "person__pseudonym", "person__email", "person__notice_version_id", "sent_at"]
    columns.append("campaign__purpose")
    columns.append("campaign__products")
    if "basis" in names:
        columns.append("basis")
    chunk: list[tuple[Any, ...]] = []
    for row in sent.values_list(*columns).iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from _check_sends(chunk)
            chunk = []
    if chunk:
        yield from _check_sends(chunk)


def _check_sends(chunk: list[tuple[Any, ...]]) -> Iterator[Violation]:
    from tillit.consent.models import NoticeVersion
    from tillit.consent.selectors import ALL_CHANNELS
    from tillit.people.models import Purchase
    from tillit.policy import consent as consent_rule

    versions = consent_selectors.published_policies()
    person_ids = {row[1] for row in chunk}
    latest_at = max((row[5] for row in chunk if row[5] is not None), default=None)
    events: dict[int, list[tuple[dt.datetime, str, str, str]]] = defaultdict(list)
    ledger = ConsentEvent.objects.filter(person_id__in=person_ids)
    if latest_at is not None:
        ledger = ledger.filter(occurred_at__lte=latest_at)
    for pid, at, purpose, channel, action in ledger.order_by("occurred_at", "pk").values_list(
        "person_id", "occurred_at", "purpose", "channel", "action"
    ):
        events[pid].append((at, purpose, channel, action))
    customers: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for pid, started, ended in CustomerRelationship.objects.filter(person_id__in=person_ids).values_list(
        "person_id", "started_at", "ended_at"
    ):
        customers[pid].append((started, ended))
    purchases: dict[int, list[consent_rule.Purchase]] = defaultdict(list)
    for pk, pid, order, product, at, wording, refused in Purchase.objects.filter(person_id__in=person_ids).values_list(
        "pk", "person_id", "order_number", "product", "purchased_at", "opt_out_wording", "opt_out_refused"
    ):
        purchases[pid].append(consent_rule.Purchase(order, product, at, bool(wording), refused, pk))
    informed = {pk: frozenset(purposes) for pk, purposes in NoticeVersion.objects.values_list("pk", "purposes")}
    key = settings.TILLIT_IDENTIFIER_KEY
    digests = {row[0]: [d for _, d in identifier_digests(email=row[3], phone=None, key=key)] for row in chunk}
    suppressed = dict(
        SuppressionEntry.objects.filter(digest__in=[d for ds in digests.values() for d in ds]).values_list(
            "digest", "created_at"
        )
    )
    for row in chunk:
        pk, pid, pseudonym, email, version, sent_at, purpose, products = row[:8]
        subject = f"send:#{pk} person:{pseudonym}"
        if len(row) > 8 and not str(row[8] or "").strip():
            yield Violation("send_without_basis", subject, "no legal basis recorded with the send")
        at = sent_at
        current = consent_selectors.policy_in_force(versions, at)  # the rules of its time (§14)
        if at is not None and purpose in current.purposes:
            state: dict[tuple[str, str], str] = {}
            for when, p, channel, action in events.get(pid, []):
                if when <= at:
                    state[(p, channel)] = action
            facts = consent_rule.ContactFacts(
                email=email,
                consents=state,
                objected_to_marketing=state.get(("direct_marketing", ALL_CHANNELS)) == "objected",
                objected_purposes=frozenset(p for (p, _), a in state.items() if a == "objected"),
                suppressed=False,  # the suppression list is its own check, below
                is_customer=any(s <= at and (e is None or e > at) for s, e in customers.get(pid, [])),
                purchases=tuple(p for p in purchases.get(pid, []) if p.at <= at),
                informed_purposes=informed.get(version, frozenset()),
            )
            decision = consent_rule.may_contact(
                current, facts, purpose=purpose, channel="email", products=products or ()
            )
            if not decision.allowed:
                yield Violation("send_without_basis", subject, f"no basis at send time ({decision.reason})")
        since = [suppressed[d] for d in digests[pk] if d in suppressed]
        if since and (sent_at is None or min(since) <= sent_at):
            yield Violation("send_to_suppressed", subject, "the address was suppressed before the send")


def disclosures() -> Iterator[Violation]:
    """Every row of the disclosure ledger against the policy version in force when it was made
    (§11, §14), chunk by chunk."""
    versions = consent_selectors.published_policies()
    rows = (
        DisclosedPerson.objects.order_by("pk")
        .select_related("disclosure")
        .values_list(
            "pk",
            "pseudonym",
            "categories",
            "disclosure__reference",
            "disclosure__basis",
            "disclosure__disclosed_at",
            "disclosure__dialogue_id",
            "disclosure__event_id",
            "disclosure__event__partner_id",
            "disclosure__partner_id",
            "disclosure__purpose",
        )
    )
    dialogues = {
        pk: (opened, closed, partner_id)
        for pk, opened, closed, partner_id in Dialogue.objects.values_list("pk", "opened_at", "closed_at", "partner_id")
    }
    ended = dict(Partner.objects.filter(ended_at__isnull=False).values_list("pk", "ended_at"))
    chunk: list[tuple[Any, ...]] = []
    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from _check_ledger(versions, chunk, dialogues, ended)
            chunk = []
    if chunk:
        yield from _check_ledger(versions, chunk, dialogues, ended)


def _check_ledger(
    versions: list[tuple[dt.datetime, Any]],
    chunk: list[tuple[Any, ...]],
    dialogues: dict[int, tuple[Any, Any, Any]],
    ended: dict[int, Any],
) -> Iterator[Violation]:
    people = dict(Person.objects.filter(pseudonym__in=[r[1] for r in chunk]).values_list("pseudonym", "pk"))
    members: dict[tuple[int, int], list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for member_dialogue, member, added, removed in DialogueMember.objects.filter(
        person_id__in=list(people.values()), dialogue_id__in={r[6] for r in chunk}
    ).values_list("dialogue_id", "person_id", "added_at", "removed_at"):
        members[(member_dialogue, member)].append((added, removed))
    purposes = {*OBJECTION_ONLY_PURPOSES, "direct_marketing", *(r[10] for r in chunk)}
    events: dict[int, list[tuple[dt.datetime, str, str, str]]] = defaultdict(list)
    for subject_id, at, p, channel, action in (
        ConsentEvent.objects.filter(person_id__in=list(people.values()), purpose__in=purposes)
        .order_by("occurred_at", "pk")
        .values_list("person_id", "occurred_at", "purpose", "channel", "action")
    ):
        events[subject_id].append((at, p, channel, action))
    for (
        pk,
        pseudonym,
        categories,
        reference,
        basis,
        at,
        dialogue_id,
        _event_id,
        event_partner,
        partner_id,
        purpose,
    ) in chunk:
        current = consent_selectors.policy_in_force(versions, at)  # the rules of its time (§14)
        opened: dt.datetime | None
        closed: dt.datetime | None
        opened, closed, dialogue_partner = dialogues.get(dialogue_id, (None, None, None))
        if partner_id in ended and (closed is None or ended[partner_id] < closed):
            closed = ended[partner_id]
        if dialogue_partner != partner_id:
            opened = None  # a disclosure through another partner's dialogue is never in order
        person_id: int | None = people.get(pseudonym)
        intervals = members.get((dialogue_id, person_id), []) if person_id is not None else []
        covering = next((iv for iv in intervals if iv[0] <= at and (iv[1] is None or at < iv[1])), None)
        first = min(intervals, key=lambda iv: iv[0]) if intervals else (None, None)
        member_from, member_until = covering if covering else first
        objected = False
        if person_id is not None:
            latest: dict[tuple[str, str], str] = {}
            for when, p, channel, action in events.get(person_id, []):
                if when <= at:
                    latest[(p, channel)] = action
            objected = any(
                action == "objected" and p in {*OBJECTION_ONLY_PURPOSES, "direct_marketing", purpose}
                for (p, _), action in latest.items()
            )
        problems = disclosure_rule.ledger_problems(
            current,
            disclosure_rule.LedgerEntry(
                categories=tuple(categories or ()),
                basis=basis,
                disclosed_at=at,
                dialogue_opened_at=opened,
                dialogue_closed_at=closed,
                event_with_partner=event_partner is not None and event_partner == partner_id,
                member_from=member_from,
                member_until=member_until,
                person_known=person_id is not None,
                objected_before=objected,
            ),
        )
        subject = f"disclosure:{reference} row:#{pk} person:{pseudonym}"
        if "forbidden_field" in problems:
            forbidden = disclosure_rule.forbidden_categories(
                current, categories or (), partner_event=event_partner is not None and event_partner == partner_id
            )
            detail = f"categories {', '.join(forbidden)}" if forbidden else f"basis {basis!r}"
            yield Violation("disclosure_forbidden_field", subject, detail)
        if "forbidden_time" in problems:
            why = "after an objection" if objected else "no open dialogue with the person in it"
            yield Violation("disclosure_forbidden_time", subject, why)


READ_ACTIONS = ("read", "search", "export")
_ALWAYS_PERSON = frozenset({"id", "pseudonym", "retain_until", "retain_reason"})


def read_problem(
    role: str, purpose: str, subject_type: str, fields: Any, *, in_force: policy.Policy | None = None
) -> str | None:
    """Why an audited read breaks the policy (§10), or None: the role must exist and may use
    the purpose, and every classified field read must be one the role may see for it, by the
    policy ``in_force`` when the read happened (default: the policy loaded now)."""
    current = in_force or policy.current()
    if not purpose:
        return "a read without a purpose"
    if purpose not in current.purposes:
        return f"unknown purpose {purpose!r}"
    if role not in current.roles:
        return f"unknown role {role!r}"
    if not purpose_rules.may_use_purpose(current, role, purpose):
        return f"role {role!r} may not use {purpose!r}"
    model = {"person": "people.Person", "organization": "people.Organization"}[subject_type]
    names = fields if isinstance(fields, list) else []
    for name in names:
        name = str(name)
        target, column = model, name
        if name.startswith("interaction."):
            target, column = "people.Interaction", name.partition(".")[2]
        elif name == "consent":
            if "choices" not in purpose_rules.visible_categories(current, role, purpose):
                return f"role {role!r} may not see consents for {purpose!r}"
            continue
        category = classification.classify(f"{target}.{column}")
        if category is None or category in classification.MARKERS or column in _ALWAYS_PERSON:
            continue
        if column not in purpose_rules.visible_fields(current, role, purpose, target):
            return f"role {role!r} may not see {column!r} for {purpose!r}"
    return None


def forbidden_reads() -> Iterator[Violation]:
    """Audited reads of personal data (people, organisations) by staff and API clients, judged
    by the policy version in force when each happened (§14): per version's period, the reads
    are grouped by (role, purpose, fields), the policy is asked once per group, and only the
    entries of a forbidden group are streamed. A read allowed then stays allowed after its
    purpose is removed; a read forbidden then stays reported."""
    everything = AuditEntry.objects.filter(
        action__in=READ_ACTIONS, subject_type__in=("person", "organization"), actor_kind__in=("staff", "api_client")
    )
    versions = consent_selectors.published_policies()
    if not versions:
        yield from _forbidden_reads(everything, policy.current())
        return
    for index, (published_at, in_force) in enumerate(versions):
        period = everything
        if index > 0:
            period = period.filter(at__gte=published_at)
        if index + 1 < len(versions):
            period = period.filter(at__lt=versions[index + 1][0])
        yield from _forbidden_reads(period, in_force)


def _forbidden_reads(reads: Any, in_force: policy.Policy) -> Iterator[Violation]:
    groups = (
        reads.values("actor_role", "purpose", "subject_type", "fields")
        .annotate(n=Count("pk"), first=Min("sequence"))
        .order_by("first")
    )
    for group in groups:
        problem = read_problem(
            group["actor_role"], group["purpose"], group["subject_type"], group["fields"], in_force=in_force
        )
        if problem is None:
            continue
        entries = reads.filter(
            actor_role=group["actor_role"],
            purpose=group["purpose"],
            subject_type=group["subject_type"],
            fields=group["fields"],
        ).order_by("sequence")
        for sequence, subject_type, subject_id in entries.values_list(
            "sequence", "subject_type", "subject_id"
        ).iterator(chunk_size=CHUNK):
            yield Violation("read_by_forbidden_role", f"audit:#{sequence} {subject_type}:#{subject_id}", problem)


def broken_audit_chain() -> Iterator[Violation]:
    report = audit_selectors.verify_chain()
    if not report.is_intact:
        yield Violation("audit_chain_broken", f"audit:#{report.broken_at}", f"entry {report.kind}")


def indirect_not_informed(*, now: dt.datetime) -> Iterator[Violation]:
    """GDPR art. 14 (§4, §6): everyone obtained from an indirect source more than a month ago
    who was neither told (the notice sent within the month) nor exempt (the policy version in
    force when the data came claimed an art. 14(5) exemption for the source, recorded per
    person by the daily job). One grouped query over the provenance, streamed; the rule
    (``tillit.policy.indirect.art14_problem``) decides per person and source."""
    from tillit.consent.models import IndirectNotice
    from tillit.people.models import Provenance
    from tillit.policy import indirect as indirect_rule

    versions = consent_selectors.published_policies()
    sources: set[str] = set(indirect_rule.indirect_sources(policy.current()))
    for _, version in versions:
        sources |= set(indirect_rule.indirect_sources(version))
    if not sources:
        return
    # Narrow to data obtained before the month (two days to spare for the calendar).
    cut = now - dt.timedelta(days=27)
    rows = (
        Provenance.objects.filter(person__isnull=False, source__in=sorted(sources))
        .values("person_id", "source")
        .annotate(obtained_at=Min("recorded_at"))
        .filter(obtained_at__lte=cut)
        .order_by("person_id", "source")
        .values_list("person_id", "source", "obtained_at")
    )
    chunk: list[tuple[Any, ...]] = []

    def judge(chunk: list[tuple[Any, ...]]) -> Iterator[Violation]:
        ids = {row[0] for row in chunk}
        pseudonyms = dict(Person.objects.filter(pk__in=ids).values_list("pk", "pseudonym"))
        records = {
            (pid, source): (status, sent_at)
            for pid, source, status, sent_at in IndirectNotice.objects.filter(person_id__in=ids).values_list(
                "person_id", "source", "status", "sent_at"
            )
        }
        for person_id, source, obtained_at in chunk:
            status, sent_at = records.get((person_id, source), (None, None))
            problem = indirect_rule.art14_problem(
                consent_selectors.policy_in_force(versions, obtained_at),
                indirect_rule.Art14Facts(
                    source=source,
                    obtained_at=obtained_at,
                    told_at=sent_at if status == IndirectNotice.Status.SENT else None,
                    exemption_recorded=status == IndirectNotice.Status.EXEMPT,
                ),
                now,
            )
            if problem is not None:
                yield Violation(
                    "art14_not_informed", f"person:{_pseudonym(pseudonyms[person_id])}", f"{source}: {problem}"
                )

    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from judge(chunk)
            chunk = []
    if chunk:
        yield from judge(chunk)


def sends_after_objection() -> Iterator[Violation]:
    """Marketing emails claimed (``sending``, ``sent`` or ``bounced``) after the person said no:
    an objection to direct marketing or to the campaign's purpose, or a withdrawal of that
    purpose on email, still in force at the claim (no later ledger entry for the same purpose
    and channel by then); or, for a newsletter, their subscription to it closed by then.

    "After" is commit order where the database noted the claim (``retention.JournalEntry``,
    kind ``claim``): on PostgreSQL, the ledger entry's transaction was visible to the claiming
    one; on SQLite, its journal entry comes first. So a batch that began before an objection,
    and claimed a message after the objection committed, is reported even though the send
    records the batch's earlier moment. A send without a noted claim is judged by the moment
    it recorded (``sent_at``), and so is the subscription. One set-based query, streamed."""
    try:
        send_model = apps.get_model("marketing", "SendRecord")
        campaign_model = apps.get_model("marketing", "Campaign")
        newsletter_model = apps.get_model("marketing", "NewsletterList")
        journal_model = apps.get_model("retention", "JournalEntry")
    except LookupError:
        return
    from tillit.consent.selectors import ALL_CHANNELS

    send, campaign, newsletter, journal = (
        send_model._meta.db_table,
        campaign_model._meta.db_table,
        newsletter_model._meta.db_table,
        journal_model._meta.db_table,
    )
    person, event, subscription = Person._meta.db_table, ConsentEvent._meta.db_table, Subscription._meta.db_table
    claimed = ["sending", "sent", "bounced"]

    def committed_before_claim(entry: str) -> str:
        """The journal entry ``entry`` (of a ledger row) committed before the claim ``cj``;
        a ledger row older than the journal has none, and came before every noted claim."""
        if connection.vendor == "postgresql":
            seen = f"pg_visible_in_snapshot(({entry}.txid::text)::xid8, cj.snapshot::pg_snapshot)"
        else:
            seen = f"{entry}.id < cj.id"
        return f"({entry}.id IS NULL OR {seen})"

    # An objection to direct marketing stops every marketing purpose of the policy (art. 21(3)).
    marketing = sorted(key for key, purpose in policy.current().purposes.items() if purpose.marketing) or ["-"]
    refused = (
        "e.channel IN ('email', %s) AND ((e.action = 'objected' AND (e.purpose = c.purpose OR "
        f"(e.purpose = 'direct_marketing' AND c.purpose IN ({', '.join(['%s'] * len(marketing))})))) "
        "OR (e.action = 'withdrawn' AND e.purpose = c.purpose))"
    )
    later = (
        f"FROM {event} later "
        "WHERE later.person_id = e.person_id AND later.purpose = e.purpose AND later.channel = e.channel "
        "AND (later.occurred_at > e.occurred_at OR (later.occurred_at = e.occurred_at AND later.id > e.id))"
    )
    noted = f"SELECT 1 FROM {journal} n WHERE n.kind = 'claim' AND n.ref_id = s.id"  # noqa: S608
    sql = (
        # Claims the database noted: commit order.
        f"SELECT s.id, p.pseudonym, e.action, e.purpose FROM {journal} cj "  # noqa: S608 (model tables)
        f"JOIN {send} s ON s.id = cj.ref_id JOIN {campaign} c ON c.id = s.campaign_id "
        f"JOIN {person} p ON p.id = s.person_id "
        f"JOIN {event} e ON e.person_id = s.person_id AND {refused} "
        f"LEFT JOIN {journal} ej ON ej.kind = 'consent' AND ej.ref_id = e.id "
        f"WHERE cj.kind = 'claim' AND s.status IN (%s, %s, %s) AND {committed_before_claim('ej')} "
        f"AND NOT EXISTS (SELECT 1 {later} AND NOT EXISTS (SELECT 1 FROM {journal} lj "
        f"  WHERE lj.kind = 'consent' AND lj.ref_id = later.id AND NOT {committed_before_claim('lj')})) "
        "UNION ALL "
        # Sends without a noted claim: the moment they recorded.
        f"SELECT s.id, p.pseudonym, e.action, e.purpose FROM {send} s "
        f"JOIN {campaign} c ON c.id = s.campaign_id JOIN {person} p ON p.id = s.person_id "
        f"JOIN {event} e ON e.person_id = s.person_id AND e.occurred_at <= s.sent_at AND {refused} "
        f"WHERE s.status IN (%s, %s, %s) AND s.sent_at IS NOT NULL AND NOT EXISTS ({noted}) "
        f"AND NOT EXISTS (SELECT 1 {later} AND later.occurred_at <= s.sent_at) "
        "UNION ALL "
        f"SELECT s.id, p.pseudonym, 'unsubscribed', n.key FROM {send} s "
        f"JOIN {campaign} c ON c.id = s.campaign_id JOIN {newsletter} n ON n.id = c.newsletter_id "
        f"JOIN {person} p ON p.id = s.person_id "
        f"JOIN {subscription} u ON u.person_id = s.person_id AND u.newsletter = n.key "
        "WHERE s.status IN (%s, %s, %s) AND s.sent_at IS NOT NULL AND u.unsubscribed_at IS NOT NULL "
        "AND u.unsubscribed_at <= s.sent_at AND u.subscribed_at <= u.unsubscribed_at "
        "ORDER BY 1"
    )
    params = [ALL_CHANNELS, *marketing, *claimed, ALL_CHANNELS, *marketing, *claimed, *claimed]
    said = {"objected": "objected to", "withdrawn": "withdrew", "unsubscribed": "left the newsletter"}
    last = None
    for pk, pseudonym, action, what in _rows(sql, params):
        if pk == last:
            continue  # one violation per send, however many refusals came before it
        last = pk
        yield Violation(
            "send_after_objection",
            f"send:#{pk} person:{_pseudonym(pseudonym)}",
            f"claimed after the person {said[action]} {what}",
        )


def deadlines_differ() -> Iterator[Violation]:
    """Every stored deadline against the rule applied to the person's facts now, chunk by chunk:
    the facts of a chunk come from the same aggregate queries that recompute them
    (``retention.selectors.retention_facts_chunk``), the rule (``retain_until``) decides, and
    a difference is confirmed by one statement that reads the facts and the stored deadline
    together (so a change committed in between is not reported)."""
    from tillit.retention import selectors as retention_selectors

    current = policy.current()
    last_id = 0
    while True:
        chunk = retention_selectors.retention_facts_chunk(after_id=last_id, limit=CHUNK)
        if not chunk:
            return
        stored = {
            pk: (pseudonym, until, reason)
            for pk, pseudonym, until, reason in Person.objects.filter(
                pk__gte=chunk[0][0], pk__lte=chunk[-1][0]
            ).values_list("pk", "pseudonym", "retain_until", "retain_reason")
        }
        for pk, facts in chunk:
            decision = retention_rule.retain_until(current, facts)
            if pk not in stored or stored[pk][1:] == (decision.retain_until, decision.reason):
                continue
            try:
                facts, (until, reason) = retention_selectors.retention_state(person_id=pk)
            except LookupError:
                continue  # erased in between
            decision = retention_rule.retain_until(current, facts)
            if (until, reason) == (decision.retain_until, decision.reason):
                continue
            should = decision.retain_until
            if until == should:
                how = "another reason"
            elif until is not None and (should is None or until < should):
                how = "too early"  # an erasure the facts do not allow
            else:
                how = "too late"  # kept longer than the facts allow
            yield Violation(
                "deadline_differs",
                f"person:{_pseudonym(stored[pk][0])}",
                f"{how}: stored {_day(until)} ({reason or '-'}), the facts say {_day(should)} ({decision.reason})",
            )
        last_id = chunk[-1][0]


def _day(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else "none"


def newest_runs(limit: int = 10) -> list[VerifyRun]:
    return list(VerifyRun.objects.order_by("-started_at", "-pk")[:limit])


__all__ = ["KINDS", "Report", "Violation", "newest_runs", "run", "run_and_store", "violations"]


def tampered_ledgers() -> Iterator[Violation]:
    """Every ledger entry (consent, cookie choice, disclosure, disclosed person) whose seal,
    chain or removal mark does not hold, with the entry's id (``consent:#12``)."""
    for problem in ledgers.problems():
        yield Violation(problem.kind, f"{problem.ledger}:#{problem.entry_id}", problem.detail)


def sends_on_expired_consent() -> Iterator[Violation]:
    """Every marketing email sent on consent (the basis recorded with the send) when that
    consent had lapsed at ``sent_at`` by the policy version in force then (§5, §14), chunk by
    chunk: per chunk one query for the ledger entries and one for the interactions of its
    people, judged by ``tillit.policy.consent.consent_lapsed``."""
    try:
        send_model = apps.get_model("marketing", "SendRecord")
    except LookupError:
        return
    sent = (
        send_model.objects.filter(status="sent", basis="consent", sent_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "person_id", "person__pseudonym", "sent_at", "campaign__purpose")
    )
    versions = consent_selectors.published_policies()
    chunk: list[tuple[Any, ...]] = []
    for row in sent.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from _check_lapsed(versions, chunk)
            chunk = []
    if chunk:
        yield from _check_lapsed(versions, chunk)


def _check_lapsed(versions: list[tuple[dt.datetime, Any]], chunk: list[tuple[Any, ...]]) -> Iterator[Violation]:
    from tillit.policy import consent as consent_rule

    person_ids = {row[1] for row in chunk}
    latest_at = max(row[3] for row in chunk)
    entries: dict[tuple[int, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
    for pid, purpose, at, action in (
        ConsentEvent.objects.filter(
            person_id__in=person_ids,
            purpose__in={row[4] for row in chunk},
            channel="email",
            occurred_at__lte=latest_at,
        )
        .order_by("occurred_at", "pk")
        .values_list("person_id", "purpose", "occurred_at", "action")
    ):
        entries[(pid, purpose)].append((at, action))
    contacts: dict[int, list[tuple[dt.datetime, str, str, bool]]] = defaultdict(list)
    for pid, at, kind, direction, reached in (
        Interaction.objects.filter(person_id__in=person_ids, occurred_at__lte=latest_at)
        .exclude(direction="internal")
        .values_list("person_id", "occurred_at", "kind", "direction", "reached")
    ):
        contacts[pid].append((at, kind, direction, reached))
    for pk, pid, pseudonym, sent_at, purpose in chunk:
        in_force = consent_selectors.policy_in_force(versions, sent_at)
        before = [(at, action) for at, action in entries.get((pid, purpose), []) if at <= sent_at]
        if not before or before[-1][1] != "given":
            continue  # no consent at all: send_without_basis reports it
        engaged = [
            at
            for at, kind, direction, reached in contacts.get(pid, [])
            if at <= sent_at and consent_rule.is_engagement(in_force, kind=kind, direction=direction, reached=reached)
        ]
        facts = consent_rule.ContactFacts(
            consents={(purpose, "email"): "given"},
            consent_given_at={(purpose, "email"): before[-1][0]},
            engaged_at=max(engaged, default=None),
        )
        if consent_rule.consent_lapsed(in_force, facts, purpose, "email", sent_at):
            yield Violation(
                "send_on_expired_consent",
                f"send:#{pk} person:{pseudonym}",
                "the consent had lapsed (no renewal or engagement within its lifetime)",
            )


def partner_roles() -> Iterator[Violation]:
    """Each active partner's role still holds under the policy in force (GDPR art. 26, 28): a
    joint controller whose arrangement, or a processor whose entry, left the policy file."""
    current = policy.current()
    for key, role in Partner.objects.filter(ended_at__isnull=True).order_by("key").values_list("key", "role"):
        problem = partner_role_problem(current, key=key, role=role)
        if problem is not None:
            yield Violation("partner_role_without_policy", f"partner:{key}", problem)


def _restricted_at(at: str, **person: Any) -> Any:
    """A condition on rows: at the moment in column ``at`` the person (``person`` names the
    lookup to them) had the processing of their data restricted (GDPR art. 18)."""
    from django.db.models import Exists, OuterRef, Q

    during = Restriction.objects.filter(
        **{key: OuterRef(value) for key, value in person.items()}, restricted_at__lte=OuterRef(at)
    ).filter(Q(lifted_at__isnull=True) | Q(lifted_at__gt=OuterRef(at)))
    return Exists(during)


def restricted_processing(*, now: dt.datetime) -> Iterator[Violation]:
    """Processing of a person while it was restricted (GDPR art. 18(2)): a marketing email
    sent, a disclosure to a partner, or a read by staff (or their programs) in a role and for
    a purpose the policy's ``[restriction]`` does not allow, between the restriction and its
    lift. Set-based: one query per kind, streamed. (A restricted person who is erased takes
    their restriction with them; the erasure receipt is the record then.)"""
    del now
    try:
        send_model = apps.get_model("marketing", "SendRecord")
    except LookupError:
        send_model = None
    if send_model is not None:
        sends = send_model.objects.filter(status="sent", sent_at__isnull=False).filter(
            _restricted_at("sent_at", person_id="person_id")
        )
        for pk, pseudonym, sent_at in (
            sends.order_by("pk").values_list("pk", "person__pseudonym", "sent_at").iterator(chunk_size=CHUNK)
        ):
            yield Violation(
                "processing_while_restricted",
                f"send:#{pk} person:{_pseudonym(pseudonym)}",
                f"a marketing email sent on {sent_at:%Y-%m-%d} while processing was restricted (art. 18)",
            )
    disclosed = DisclosedPerson.objects.filter(
        _restricted_at("disclosure__disclosed_at", person__pseudonym="pseudonym")
    ).order_by("pk")
    for pk, pseudonym, partner, at in disclosed.values_list(
        "disclosure_id", "pseudonym", "disclosure__partner__key", "disclosure__disclosed_at"
    ).iterator(chunk_size=CHUNK):
        yield Violation(
            "processing_while_restricted",
            f"disclosure:#{pk} person:{_pseudonym(pseudonym)}",
            f"disclosed to {partner} on {at:%Y-%m-%d} while processing was restricted (art. 18)",
        )
    rules = policy.current().restriction
    reads = (
        AuditEntry.objects.filter(
            action__in=READ_ACTIONS, subject_type="person", actor_kind__in=("staff", "api_client")
        )
        .exclude(actor_role__in=rules.readers)
        .exclude(purpose__in=rules.purposes)
        .filter(_restricted_at("at", person_id="subject_id"))
        .order_by("sequence")
    )
    for sequence, subject_id, role, purpose in reads.values_list(
        "sequence", "subject_id", "actor_role", "purpose"
    ).iterator(chunk_size=CHUNK):
        yield Violation(
            "processing_while_restricted",
            f"audit:#{sequence} person:#{subject_id}",
            f"read by role {role!r} for {purpose!r} while processing was restricted (art. 18)",
        )
