"""Reads for retention: the facts the rule needs, the sweep preview, the forecast, the
deadline in words, and the completeness check that proves an erasure left nothing behind."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.people.models import CustomerRelationship, Person
from tillit.policy import purposes as purpose_rules
from tillit.policy import retention as rule


def retention_facts(*, person_id: int) -> rule.RetentionFacts:
    """The facts of §9 for one person, in one query (it runs on every recorded event)."""
    return retention_state(person_id=person_id)[0]


def retention_state(*, person_id: int) -> tuple[rule.RetentionFacts, tuple[dt.datetime | None, str]]:
    """The facts of §9 for one person and the deadline stored now, in one statement. It takes
    no lock: a caller that decides from it locks the person first, in a statement of its own
    (``retention.services.lock_and_recompute_retention``; a statement that waited for the lock
    would read the facts as they were before the wait). Written as SQL because it runs on
    every recorded event: building it through the ORM cost more than running it."""
    from tillit.consent.models import Subscription

    person, customer, subscription = (
        Person._meta.db_table,
        CustomerRelationship._meta.db_table,
        Subscription._meta.db_table,
    )
    service, order = _customer_tables()
    sql = (
        f"SELECT p.created_at, p.last_contact_at, p.retain_until, p.retain_reason, "  # noqa: S608 (model names)
        f"EXISTS (SELECT 1 FROM {customer} c WHERE c.person_id = p.id AND c.ended_at IS NULL), "
        f"(SELECT MAX(c.ended_at) FROM {customer} c WHERE c.person_id = p.id), "
        f"EXISTS (SELECT 1 FROM {subscription} s WHERE s.person_id = p.id AND s.unsubscribed_at IS NULL), "
        f"(SELECT MAX(s.unsubscribed_at) FROM {subscription} s WHERE s.person_id = p.id), "
        f"(SELECT MIN(c.started_at) FROM {customer} c WHERE c.person_id = p.id AND c.ended_at IS NULL), "
        f"EXISTS (SELECT 1 FROM {service} v WHERE v.person_id = p.id AND v.cancelled_at IS NULL), "
        f"(SELECT MAX(o.ordered_at) FROM {order} o WHERE o.person_id = p.id) "
        f"FROM {person} p WHERE p.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [person_id])
        row = cursor.fetchone()
    if row is None:
        raise LookupError("no such person")

    def moment(value: Any) -> dt.datetime | None:
        """PostgreSQL returns aware datetimes; SQLite naive UTC ones, or text for MAX()."""
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]

    created_at, last_contact_at, retain_until, retain_reason, is_customer, ended, is_subscribed, left = row[:8]
    since, has_service, last_order = row[8:]
    facts = rule.RetentionFacts(
        registered_at=moment(created_at),  # type: ignore[arg-type]
        last_contact_at=moment(last_contact_at),
        is_subscribed=bool(is_subscribed),
        unsubscribed_at=moment(left),
        is_customer=bool(is_customer),
        customer_ended_at=moment(ended),
        customer_since=moment(since),
        has_active_service=bool(has_service),
        last_order_at=moment(last_order),
    )
    return facts, (moment(retain_until), retain_reason)


def _customer_tables() -> tuple[str, str]:
    """The tables of services and order lines (the capture app records them; read here by
    name through the app registry, as the rule needs them but retention sits below capture)."""
    return (
        apps.get_model("capture", "ServiceSubscription")._meta.db_table,
        apps.get_model("capture", "OrderLine")._meta.db_table,
    )


def retention_facts_chunk(
    *, after_id: int, limit: int, only_id: int | None = None
) -> list[tuple[int, rule.RetentionFacts]]:
    """Facts for up to ``limit`` people with id > ``after_id``, in id order, from three
    aggregate queries (people, customer relationships, services, orders, subscriptions)."""
    from tillit.consent.models import Subscription

    people = Person.objects.filter(pk__gt=after_id).order_by("pk")
    if only_id is not None:
        people = people.filter(pk=only_id)
    rows = list(people.values_list("pk", "created_at", "last_contact_at")[:limit])
    if not rows:
        return []
    low, high = rows[0][0], rows[-1][0]
    customers = {
        r["person_id"]: r
        for r in CustomerRelationship.objects.filter(person_id__gte=low, person_id__lte=high)
        .values("person_id")
        .annotate(
            open=Count("pk", filter=Q(ended_at__isnull=True)),
            ended=Max("ended_at"),
            since=Min("started_at", filter=Q(ended_at__isnull=True)),
        )
    }
    service_model = apps.get_model("capture", "ServiceSubscription")
    order_model = apps.get_model("capture", "OrderLine")
    with_service = set(
        service_model.objects.filter(person_id__gte=low, person_id__lte=high, cancelled_at__isnull=True)
        .values_list("person_id", flat=True)
        .distinct()
    )
    last_orders = dict(
        order_model.objects.filter(person_id__gte=low, person_id__lte=high)
        .values("person_id")
        .annotate(last=Max("ordered_at"))
        .values_list("person_id", "last")
    )
    subscriptions = {
        r["person_id"]: r
        for r in Subscription.objects.filter(person_id__gte=low, person_id__lte=high)
        .values("person_id")
        .annotate(open=Count("pk", filter=Q(unsubscribed_at__isnull=True)), left=Max("unsubscribed_at"))
    }
    result = []
    for pid, created_at, last_contact_at in rows:
        customer = customers.get(pid)
        subscription = subscriptions.get(pid)
        result.append(
            (
                pid,
                rule.RetentionFacts(
                    registered_at=created_at,
                    last_contact_at=last_contact_at,
                    is_subscribed=bool(subscription and subscription["open"]),
                    unsubscribed_at=subscription["left"] if subscription else None,
                    is_customer=bool(customer and customer["open"]),
                    customer_ended_at=customer["ended"] if customer else None,
                    customer_since=customer["since"] if customer else None,
                    has_active_service=pid in with_service,
                    last_order_at=last_orders.get(pid),
                ),
            )
        )
    return result


def lapsed_customer_candidates(*, now: dt.datetime) -> list[int]:
    """People with an open customer relationship, no active service and no order or start for
    at least ``retention.customer.months_after_last_order`` months (two days to spare for the
    calendar): the rule (``customer_relationship_ends_at``) decides for each."""
    service, order = _customer_tables()
    customer = CustomerRelationship._meta.db_table
    cut = rule.add_months(now, -policy.current().retention.customer.months_after_last_order) + dt.timedelta(days=2)
    sql = (
        f"SELECT c.person_id FROM {customer} c WHERE c.ended_at IS NULL AND c.started_at <= %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {service} v WHERE v.person_id = c.person_id AND v.cancelled_at IS NULL) "
        f"AND NOT EXISTS (SELECT 1 FROM {order} o WHERE o.person_id = c.person_id AND o.ordered_at > %s) "
        "ORDER BY c.person_id"
    )
    value = connection.ops.adapt_datetimefield_value(cut)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value, value])
        return sorted({int(row[0]) for row in cursor.fetchall()})


def sweep_preview(*, now: dt.datetime) -> dict[str, int]:
    """How many people the sweep would erase now, per reason (one grouped query)."""
    rows = Person.objects.filter(retain_until__lte=now).values("retain_reason").annotate(n=Count("pk"))
    return {r["retain_reason"] or "unknown": r["n"] for r in rows}


@dataclass(frozen=True)
class Forecast:
    months: list[dt.date]
    reasons: list[str]
    counts: dict[str, list[int]]  # reason -> count per month
    overdue: int
    without_deadline: int


def forecast_for(*, actor: Actor, now: dt.datetime, months: int = 24) -> Forecast:
    """The forecast, for a role the policy gives the ``retention_forecast`` tool."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, "retention_forecast"):
        raise PermissionDeniedError("your role may not see the retention forecast")
    if not 1 <= months <= 60:
        raise ValidationError("must be between 1 and 60", field="months")
    return forecast(now=now, months=months)


def forecast(*, now: dt.datetime, months: int = 24) -> Forecast:
    """How many people reach their deadline in each of the next ``months`` months, per
    reason; plus those already past it (the next sweep) and those without a deadline."""
    tz = rule.CONTROLLER_TIME_ZONE
    local = now.astimezone(tz)
    first = dt.date(local.year, local.month, 1)
    month_starts = [_add_months(first, i) for i in range(months)]
    end = dt.datetime.combine(_add_months(first, months), dt.time(), tzinfo=tz)
    rows = (
        Person.objects.filter(retain_until__gt=now, retain_until__lt=end)
        .annotate(month=TruncMonth("retain_until", tzinfo=tz))
        .values("month", "retain_reason")
        .annotate(n=Count("pk"))
    )
    counts: dict[str, list[int]] = {reason: [0] * months for reason in rule.REASONS}
    index = {m: i for i, m in enumerate(month_starts)}
    for r in rows:
        month = r["month"]
        key = month.date() if isinstance(month, dt.datetime) else month
        if key in index:
            counts.setdefault(r["retain_reason"], [0] * months)[index[key]] += r["n"]
    aggregate = Person.objects.aggregate(
        overdue=Count("pk", filter=Q(retain_until__lte=now)),
        without=Count("pk", filter=Q(retain_until__isnull=True)),
    )
    reasons = [reason for reason, values in counts.items() if any(values)]
    return Forecast(
        months=month_starts,
        reasons=reasons,
        counts={reason: counts[reason] for reason in reasons},
        overdue=aggregate["overdue"],
        without_deadline=aggregate["without"],
    )


def _add_months(day: dt.date, n: int) -> dt.date:
    month = day.month - 1 + n
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def explain(reason: str, until: dt.datetime | None) -> str:
    """Why a person is still stored and until when, in words (§9)."""
    if until is None:
        if reason == rule.CUSTOMER:
            return _("Kept while the customer relationship is active (privacy policy §9).")
        if reason == rule.SUBSCRIBED:
            return _("Kept while subscribed to a newsletter, then 2 years (privacy policy §9).")
        return _("No deadline has been computed yet.")
    date = until.astimezone(rule.CONTROLLER_TIME_ZONE).date().isoformat()
    texts = {
        rule.DIALOGUE: _("Kept until %(date)s: 2 years after the last contact the person took part in (§9)."),
        rule.UNSUBSCRIBED: _("Kept until %(date)s: 2 years after unsubscribing from the newsletter (§9)."),
        rule.CUSTOMER_ENDED: _("Kept until %(date)s: 2 years after the customer relationship ended (§9)."),
        rule.REGISTERED: _("Kept until %(date)s: 2 years after registration, with no contact since (§9)."),
        rule.CUSTOMER_ORDERS: _(
            "Kept until %(date)s: a customer with no active service is a customer until %(months)s months "
            "after the last order, then 2 years follow (§9)."
        ),
    }
    months = policy.current().retention.customer.months_after_last_order
    return texts.get(reason, _("Kept until %(date)s (§9).")) % {"date": date, "months": months}


def oldest_deadline() -> dt.datetime | None:
    return Person.objects.aggregate(oldest=Min("retain_until"))["oldest"]


def find_identifiers(values: Iterable[str]) -> list[dict[str, Any]]:
    """The completeness check: every (table, column) whose text contains one of ``values``,
    searched in every text column of every table in the database, and every queued row that
    holds a keyed hash of one of them (classification ``SUBJECT_DIGEST``: the form intake,
    whose rows are not yet linked to a person). An erasure must leave this empty for the
    erased person's name, email and phone."""
    needles = [v for v in values if v]
    hits: list[dict[str, Any]] = []
    if not needles:
        return hits
    hits.extend(_find_digests(needles))
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                kind = connection.introspection.get_field_type(column.type_code, column)
                if kind not in {"CharField", "TextField", "JSONField"}:
                    continue
                qn = connection.ops.quote_name
                for needle in needles:
                    cast = f"CAST({qn(column.name)} AS TEXT)"
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {qn(table)} WHERE LOWER({cast}) LIKE %s",  # noqa: S608
                        [f"%{needle.lower()}%"],
                    )
                    (n,) = cursor.fetchone()
                    if n:
                        hits.append({"table": table, "column": column.name, "rows": n})
    return hits


def _find_digests(needles: list[str]) -> list[dict[str, Any]]:
    """Queued rows holding a keyed hash of one of ``needles`` (each taken as an email address
    and as a phone number, normalised where it is one)."""
    from django.apps import apps as registry
    from django.conf import settings

    from tillit.core.errors import ValidationError as InvalidIdentifier
    from tillit.core.identifiers import identifier_digest, normalise_email, normalise_phone
    from tillit.policy import classification

    forms: dict[str, set[str]] = {"email": set(), "phone": set()}
    for needle in needles:
        for kind, normalise in (("email", normalise_email), ("phone", normalise_phone)):
            forms[kind].add(needle.strip().lower() if kind == "email" else needle.strip())
            with contextlib.suppress(InvalidIdentifier):
                forms[kind].add(normalise(needle))
    hits = []
    for model_key, field_name, kind in classification.subject_digests():
        digests = [identifier_digest(kind, value, key=settings.TILLIT_IDENTIFIER_KEY) for value in forms[kind]]
        model = registry.get_model(model_key)
        n = model._default_manager.filter(**{f"{field_name}__in": digests}).count()
        if n:
            hits.append({"table": model._meta.db_table, "column": model._meta.get_field(field_name).column, "rows": n})
    return hits


def erasures_after(*, digests: Iterable[str], after: dt.datetime) -> dict[str, dt.datetime]:
    """For each keyed hash in ``digests`` that an erasure receipt written after ``after``
    holds: the time of the latest such erasure (one query over the receipts since then). The
    intake drain refuses a queued row older than a later erasure of the same identifiers."""
    from tillit.retention.models import ErasureReceipt

    wanted = sorted(set(digests))
    if not wanted:
        return {}
    table = ErasureReceipt._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT d.value, MAX(r.erased_at) FROM {table} r "  # noqa: S608 (the model's table)
                "CROSS JOIN LATERAL jsonb_array_elements_text(r.identifier_digests) AS d(value) "
                "WHERE r.erased_at > %s AND d.value = ANY(%s) GROUP BY d.value",
                [after, wanted],
            )
        else:
            marks = ", ".join(["%s"] * len(wanted))
            cursor.execute(
                f"SELECT j.value, MAX(r.erased_at) FROM {table} r, json_each(r.identifier_digests) j "  # noqa: S608
                f"WHERE r.erased_at > %s AND j.value IN ({marks}) GROUP BY j.value",
                [connection.ops.adapt_datetimefield_value(after), *wanted],
            )
        rows = cursor.fetchall()
    result = {}
    for digest, at in rows:
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        result[str(digest)] = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return result
