"""May a marketing call be made now? (Policy §8 "we may contact you by phone"; the Norwegian
Marketing Control Act, markedsføringsloven, as amended by Prop. 43 L (2016-2017); ``[telemarketing]``
in the policy file.)

- mfl. §12: the numbers are checked against the Reservasjonsregisteret (Brønnøysundregistrene)
  before the first call and in the month of calling. ``register_is_current``: the extract in
  force is at most ``register_max_age_months`` calendar months old on the day of the call, in
  Norwegian time.
- mfl. §13: a reserved number is not called for marketing, unless the person asked us to
  (§13(2)) or is an existing customer (§13(3)); that clause is part of the eligibility rule,
  ``tillit.policy.consent.reservation_allows``.
- mfl. §14: no telemarketing on Saturdays, Sundays and public holidays (and 1 and 17 May), nor
  on working days before 09:00 or after 21:00. ``within_calling_hours`` and
  ``calls_may_start`` (the next moment a call may start).

``call_check`` puts the time-dependent parts together for one call. Pure: ``now`` and the
facts come in as arguments.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass

from tillit.policy.schema import Telemarketing

# How far ahead ``calls_may_start`` looks: longer than any run of closed days (Easter: five).
SEARCH_DAYS = 14


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm, Meeus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def is_public_holiday(rules: Telemarketing, day: dt.date) -> bool:
    """Whether ``day`` is a public holiday, or a day the law treats as one (mfl. §14)."""
    if (day.month, day.day) in rules.holidays:
        return True
    easter = easter_sunday(day.year)
    return (day - easter).days in rules.easter_holidays


def is_calling_day(rules: Telemarketing, day: dt.date) -> bool:
    """Whether marketing calls are permitted at all on ``day`` (a weekday of the policy's
    ``days`` that is no public holiday)."""
    return day.weekday() in rules.days and not is_public_holiday(rules, day)


def _local(rules: Telemarketing, at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return at.astimezone(zoneinfo.ZoneInfo(rules.timezone))


def _window(rules: Telemarketing, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = zoneinfo.ZoneInfo(rules.timezone)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    start = midnight.replace(hour=rules.starts_minute // 60, minute=rules.starts_minute % 60)
    if rules.ends_minute >= 24 * 60:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    else:
        end = midnight.replace(hour=rules.ends_minute // 60, minute=rules.ends_minute % 60)
    return start, end


def within_calling_hours(rules: Telemarketing, at: dt.datetime) -> bool:
    """Whether a marketing call may start at ``at`` (mfl. §14): a calling day, from ``starts``
    up to (not including) ``ends``, in the policy's time zone (summer time included)."""
    local = _local(rules, at)
    if not is_calling_day(rules, local.date()):
        return False
    start, end = _window(rules, local.date())
    return start <= local < end


def calls_may_start(rules: Telemarketing, at: dt.datetime) -> dt.datetime | None:
    """The first moment at or after ``at`` when a marketing call may start (``at`` itself
    inside the hours), in the policy's time zone; None if there is none within two weeks."""
    local = _local(rules, at)
    for offset in range(SEARCH_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        if not is_calling_day(rules, day):
            continue
        start, end = _window(rules, day)
        if local < start:
            return start
        if local < end:
            return local
    return None


def register_valid_until(rules: Telemarketing, extracted_on: dt.date) -> dt.date:
    """The last day an extract of ``extracted_on`` may be called from (mfl. §12): the same day
    ``register_max_age_months`` calendar months later, or that month's last day."""
    months = extracted_on.month - 1 + rules.register_max_age_months
    year, month = extracted_on.year + months // 12, months % 12 + 1
    return dt.date(year, month, min(extracted_on.day, calendar.monthrange(year, month)[1]))


def register_is_current(rules: Telemarketing, extracted_on: dt.date | None, at: dt.datetime) -> bool:
    """Whether the Reservasjonsregisteret extract of ``extracted_on`` may still be relied on
    at ``at`` (mfl. §12: checked in the month of calling). No extract is never current."""
    if extracted_on is None:
        return False
    return _local(rules, at).date() <= register_valid_until(rules, extracted_on)


@dataclass(frozen=True)
class CallCheck:
    """Whether a marketing call may be made now, and why not: ``reason`` is ``ok``,
    ``register_missing``, ``register_stale``, ``register_unchecked`` (the number was not in
    the lookup that made the register data) or ``outside_hours``; ``may_start_at`` is when
    calls may start (None when the register data is the problem)."""

    allowed: bool
    reason: str
    within_hours: bool
    may_start_at: dt.datetime | None = None


def call_check(
    rules: Telemarketing, *, at: dt.datetime, extracted_on: dt.date | None, number_checked: bool = True
) -> CallCheck:
    """May a marketing call to a number be made at ``at``, with the register data of
    ``extracted_on`` (``number_checked``: the data covers the number)? mfl. §§12, 14."""
    within = within_calling_hours(rules, at)
    if extracted_on is None:
        return CallCheck(False, "register_missing", within)
    if not register_is_current(rules, extracted_on, at):
        return CallCheck(False, "register_stale", within)
    if not number_checked:
        return CallCheck(False, "register_unchecked", within)
    if not within:
        return CallCheck(False, "outside_hours", within, calls_may_start(rules, at))
    return CallCheck(True, "ok", within, at)
