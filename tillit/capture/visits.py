"""Site visits (policy §4 technical information, §7 statistics, §15 cookies).

A visit is recorded only for a browser whose cookie choice in force grants the category that
serves the ``statistics`` purpose, made under the notice version in force: a positive act in
the banner. A browser sending Global Privacy Control is never asked and never counted unless it
actively opted in (``tillit.policy.cookies``, and §15 of the notice as published). What is kept is the page without
its query string or fragment (and with signed-link tokens cut out), the referring page's
origin and path, the IP address shortened as in the consent ledger, the browser and operating
system family (ua-parser) and the first language the browser asks for.

A visit carries a person only when the visitor identified themselves in a form and consented
to statistics there (``link_visitor_to_person``, called by the form submission). Raw visits are
kept ``retention.raw_visits.months`` months; each day is first counted into ``DailyVisits``
(counts per page, browser, operating system and language: no personal data), then the
expired raw rows are deleted set-based (``sweep_raw_visits``, run by the daily jobs).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.db import connection, transaction
from django.db.models import Count, Sum

from tillit import policy
from tillit.audit import services as audit
from tillit.capture.models import DailyVisits, Visit, VisitDay, VisitorLink
from tillit.consent import cookies as cookie_consent
from tillit.consent import selectors as consent_selectors
from tillit.core.actors import Actor
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.core.identifiers import truncate_ip
from tillit.people.models import Person
from tillit.policy import capture as capture_rules
from tillit.policy import cookies as cookie_rules
from tillit.policy import purposes as purpose_rules
from tillit.policy import retention as retention_rules

STATISTICS = capture_rules.VISITS_PURPOSE  # the purpose visits serve (§7)
STATISTICS_CHANNEL = capture_rules.VISITS_CHANNEL
TOOL = "visit_statistics"
REDACTED = "…"


# --- cleaning what the browser sends ------------------------------------------------------------


def _segment(segment: str) -> str:
    """A path segment, or REDACTED if it looks like a signed token or an opaque id (links in
    emails carry those; they must not end up in statistics)."""
    if ":" in segment or len(segment) >= 24:
        return REDACTED
    return segment


def clean_path(path: str) -> str:
    cleaned = "/".join(_segment(s) for s in (path or "/").split("/"))
    return (cleaned or "/")[:300]


def clean_page_url(url: str) -> tuple[str, str]:
    """(url, path) of the visited page: scheme, host and path only. Raises ValidationError."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise ValidationError("the page address is missing or too long", field="url")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValidationError("not a web address", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("not a web address", field="url")
    path = clean_path(parts.path)
    return f"{parts.scheme}://{parts.netloc.lower()}{path}"[:500], path


def clean_referrer(referrer: str) -> str:
    """The referring page as origin and path (tokens cut out), or "" if there is none."""
    if not referrer or not isinstance(referrer, str) or len(referrer) > 2000:
        return ""
    try:
        parts = urlsplit(referrer.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}{clean_path(parts.path)}"[:500]


@lru_cache(maxsize=4096)
def browser_and_system(user_agent: str) -> tuple[str, str]:
    """The browser and operating system families of a user agent string (ua-parser)."""
    if not user_agent:
        return "", ""
    from ua_parser import parse

    result = parse(user_agent[:500])
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    return browser[:50], system[:50]


def primary_language(accept_language: str) -> str:
    """The first language tag the browser asks for (``Accept-Language``), e.g. ``nb-NO``."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip()
    if not first or first == "*" or len(first) > 20 or not all(c.isalnum() or c == "-" for c in first):
        return ""
    return first


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(retention_rules.CONTROLLER_TIME_ZONE).date()


# --- what a browser may do ----------------------------------------------------------------------


def statistics_category() -> str | None:
    return cookie_rules.category_for_purpose(policy.current(), STATISTICS)


def may_count_visits(*, browser_id: uuid.UUID | None) -> bool:
    """Whether visits from this browser may be recorded now: its cookie choice in force grants
    statistics (a browser sending GPC has none unless it actively opted in)."""
    category = statistics_category()
    state = cookie_consent.cookie_state(browser_id=browser_id)
    return category is not None and state is not None and state.allows(category)


def record_visit(
    *,
    now: dt.datetime,
    browser_id: uuid.UUID | None,
    visitor_id: uuid.UUID,
    url: str,
    referrer: str = "",
    ip: str | None = None,
    user_agent: str = "",
    accept_language: str = "",
) -> Visit | None:
    """Record one page view, or nothing (None) when the browser's choice does not allow it.
    Raises ValidationError for a page address that is not a web address."""
    page, path = clean_page_url(url)
    if not may_count_visits(browser_id=browser_id):
        return None
    browser, system = browser_and_system(user_agent or "")
    person_id = _linked_person(visitor_id)
    return Visit.objects.create(
        visited_at=now,
        day=local_day(now),
        visitor_id=visitor_id,
        person_id=person_id,
        url=page,
        path=path,
        referrer=clean_referrer(referrer),
        ip=truncate_ip(ip),
        browser=browser,
        operating_system=system,
        language=primary_language(accept_language),
    )


def _has_statistics_consent(person_id: int) -> bool:
    state = consent_selectors.consent_state(person_id=person_id)
    return state.get((STATISTICS, STATISTICS_CHANNEL)) == "given"


def _linked_person(visitor_id: uuid.UUID) -> int | None:
    """The person a visitor id belongs to, while they still consent to statistics."""
    person_id = VisitorLink.objects.filter(visitor_id=visitor_id).values_list("person_id", flat=True).first()
    if person_id is None or not _has_statistics_consent(person_id):
        return None
    return person_id


@transaction.atomic
def link_visitor_to_person(
    *,
    actor: Actor,
    now: dt.datetime,
    browser_id: uuid.UUID | None,
    visitor_id: uuid.UUID | None,
    person_id: int,
    source_ref: str = "",
) -> bool:
    """Tie a statistics visitor id to a person who has just identified themselves (a form
    submission), so their visits from now on are theirs. Only if the browser's cookie choice
    allows statistics *and* the person consented to statistics in
    the consent ledger (the form's statistics box). Returns whether the link was made.

    Call it inside the submission's transaction, after the consent entries are recorded."""
    if visitor_id is None or not may_count_visits(browser_id=browser_id):
        return False
    if not Person.objects.filter(pk=person_id).exists() or not _has_statistics_consent(person_id):
        return False
    VisitorLink.objects.filter(visitor_id=visitor_id).exclude(person_id=person_id).delete()
    _, created = VisitorLink.objects.get_or_create(
        visitor_id=visitor_id,
        defaults={"person_id": person_id, "linked_at": now, "source_ref": source_ref[:200]},
    )
    if created:
        audit.record(
            actor=actor,
            now=now,
            action="visitor_linked",
            subject_type="person",
            subject_id=person_id,
            purpose=STATISTICS,
            fields=["visitor_id"],
        )
    return True


def _unlink(*, actor: Actor, now: dt.datetime, links: list[tuple[uuid.UUID, int]], why: str) -> int:
    """End these (visitor id, person) links and delete the visits recorded under the person
    from those visitor ids; the anonymous visits from before the link stay anonymous."""
    for visitor_id, person_id in links:
        visits, _ = Visit.objects.filter(visitor_id=visitor_id, person_id=person_id).delete()
        VisitorLink.objects.filter(visitor_id=visitor_id, person_id=person_id).delete()
        audit.record(
            actor=actor,
            now=now,
            action="visitor_unlinked",
            subject_type="person",
            subject_id=person_id,
            purpose=STATISTICS,
            fields=["visitor_id", f"visits:{visits}", why],
        )
    return len(links)


@transaction.atomic
def unlink_visitor(*, actor: Actor, now: dt.datetime, visitor_id: uuid.UUID | None) -> int:
    """The browser with this statistics visitor id withdrew statistics in the cookie banner:
    its link to a person ends at once and the visits recorded under the person are deleted
    (GDPR art. 7(3); checklist 51). Returns 1 if there was a link, else 0."""
    if visitor_id is None:
        return 0
    links = list(VisitorLink.objects.filter(visitor_id=visitor_id).values_list("visitor_id", "person_id"))
    return _unlink(actor=actor, now=now, links=links, why="cookie_choice")


@transaction.atomic
def unlink_withdrawn(*, actor: Actor, now: dt.datetime) -> int:
    """Every link whose person no longer consents to statistics in the consent ledger
    (withdrawn on their consent page, in a rights request or through the API) ends, with the
    visits recorded under them. Part of the daily visits job; returns how many links ended.
    (New visits are never linked meanwhile: ``_linked_person`` reads the ledger each time.)"""
    links = list(VisitorLink.objects.values_list("visitor_id", "person_id"))
    state = consent_selectors.current_actions(
        person_ids={person_id for _, person_id in links}, purpose=STATISTICS, channel=STATISTICS_CHANNEL
    )
    withdrawn = [(visitor_id, person_id) for visitor_id, person_id in links if state.get(person_id) != "given"]
    return _unlink(actor=actor, now=now, links=withdrawn, why="consent_withdrawn")


# --- statistics and retention -------------------------------------------------------------------


@transaction.atomic
def _aggregate_day(*, day: dt.date, now: dt.datetime) -> int:
    """Count one day's raw visits into DailyVisits (one INSERT ... SELECT ... GROUP BY) and
    mark the day counted. Returns the number of visits counted (0 if it already was)."""
    if VisitDay.objects.filter(day=day).exists():
        return 0
    visits, daily = Visit._meta.db_table, DailyVisits._meta.db_table
    columns = "day, path, browser, operating_system, language"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {daily} ({columns}, visits, visitors) "  # noqa: S608
            f"SELECT {columns}, COUNT(*), COUNT(DISTINCT visitor_id) FROM {visits} WHERE day = %s "
            f"GROUP BY {columns}",
            [day],
        )
    total = Visit.objects.filter(day=day).count()
    VisitDay.objects.create(day=day, aggregated_at=now, visits=total)
    return total


def aggregate_visits(*, now: dt.datetime) -> int:
    """Count every finished day (before today, local time) not counted yet; returns the
    number of days counted. Each day is its own transaction."""
    today = local_day(now)
    counted = VisitDay.objects.values("day")
    days = (
        Visit.objects.filter(day__lt=today)
        .exclude(day__in=counted)
        .values_list("day", flat=True)
        .distinct()
        .order_by("day")
    )
    done = 0
    for day in list(days):
        _aggregate_day(day=day, now=now)
        done += 1
    return done


@dataclass(frozen=True)
class RawVisitSweep:
    days_counted: int
    deleted: int
    cutoff: dt.datetime


def sweep_raw_visits(*, actor: Actor, now: dt.datetime) -> RawVisitSweep:
    """The daily job for raw visits (§4, ``retention.raw_visits``): count the finished days,
    then delete every raw visit recorded before the policy's cutoff, one DELETE per counted
    day (bounded transactions, whatever the number of rows). A visit of a day not yet counted
    is never deleted."""
    days_counted = aggregate_visits(now=now)
    cutoff = retention_rules.raw_visits_cutoff(policy.current(), now)
    deleted = 0
    expired_days = (
        Visit.objects.filter(visited_at__lt=cutoff, day__in=VisitDay.objects.values("day"))
        .values_list("day", flat=True)
        .distinct()
        .order_by("day")
    )
    for day in list(expired_days):
        with transaction.atomic():
            n, _ = Visit.objects.filter(day=day, visited_at__lt=cutoff).delete()
            deleted += n
    if deleted:
        audit.record(
            actor=actor,
            now=now,
            action="raw_visits_deleted",
            subject_type="visits",
            subject_id=None,
            fields=[f"visits:{deleted}"],
        )
    return RawVisitSweep(days_counted=days_counted, deleted=deleted, cutoff=cutoff)


@dataclass(frozen=True)
class VisitStatistics:
    """Counts for a period, for the staff page: totals per day, and per page, browser,
    operating system and language (visits), largest first."""

    first_day: dt.date
    last_day: dt.date
    days: list[tuple[dt.date, int]]
    pages: list[tuple[str, int]]
    browsers: list[tuple[str, int]]
    systems: list[tuple[str, int]]
    languages: list[tuple[str, int]]
    total: int


def visit_statistics(*, actor: Actor, now: dt.datetime, days: int = 30) -> VisitStatistics:
    """The daily counts of the last ``days`` finished days (only roles with the
    ``visit_statistics`` tool; the counts hold no personal data)."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, TOOL):
        raise PermissionDeniedError("your role may not see the visit statistics")
    if not 1 <= days <= 400:
        raise ValidationError("must be between 1 and 400", field="days")
    last = local_day(now) - dt.timedelta(days=1)
    first = last - dt.timedelta(days=days - 1)
    rows = DailyVisits.objects.filter(day__gte=first, day__lte=last)

    def top(column: str, limit: int = 20) -> list[tuple[str, int]]:
        grouped = rows.values(column).annotate(n=Sum("visits")).order_by("-n", column)[:limit]
        return [(g[column] or "", g["n"]) for g in grouped]

    per_day = dict(rows.values("day").annotate(n=Sum("visits")).values_list("day", "n"))
    series = [(first + dt.timedelta(days=i), per_day.get(first + dt.timedelta(days=i), 0)) for i in range(days)]
    return VisitStatistics(
        first_day=first,
        last_day=last,
        days=series,
        pages=top("path"),
        browsers=top("browser"),
        systems=top("operating_system"),
        languages=top("language"),
        total=sum(n for _, n in series),
    )


def raw_visit_count() -> int:
    """How many raw visits are held (for operators; no personal data in the number)."""
    return Visit.objects.aggregate(n=Count("id"))["n"] or 0
