"""The Reservasjonsregisteret (Brønnøysundregistrene; markedsføringsloven §§12-13, policy
``[telemarketing]``): the register data marketing calls are checked against.

Two ways in, each a new extract (the newest is in force, ``consent.selectors.reservation_extract``):

- ``import_extract``: a file extract of every reserved number (one number a line, or the first
  column of a CSV; a header line and blank lines are skipped), with the day its data is from.
- ``record_lookup``: the official lookup service, through ``LookupClient`` (its base URL is
  configurable, ``TILLIT_RESERVATION_LOOKUP_URL``): every number we hold is asked about, and the
  answer is stored, reserved or not, so a number added later shows as not checked.

Only keyed hashes of the numbers are stored (``tillit.core.identifiers.identifier_digest``).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from tillit import policy
from tillit.audit import services as audit
from tillit.consent.models import MarketingCallCheck, ReservationExtract, ReservedNumber
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, ValidationError
from tillit.core.identifiers import identifier_digest, normalise_phone
from tillit.people.models import Person
from tillit.policy import telemarketing as rule

BATCH = 2000
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class ImportSummary:
    extract_id: int
    extracted_on: dt.date
    reserved: int
    checked: int
    rejected: int


def _digest(number: str) -> str:
    return identifier_digest("phone", number, key=settings.TILLIT_IDENTIFIER_KEY)


def _numbers_in(path: Path) -> Iterator[str | None]:
    """Each line's number, normalised (None for a line that holds no valid number)."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as error:
        raise ValidationError(f"cannot read the extract ({error.strerror})", field="file") from None
    with handle:
        for index, line in enumerate(handle):
            cell = line.split(",", 1)[0].split(";", 1)[0].strip().strip('"')
            if not cell or (index == 0 and not any(ch.isdigit() for ch in cell)):
                continue
            try:
                yield normalise_phone(cell)
            except ValidationError:
                yield None


def _store(
    *, actor: Actor, now: dt.datetime, extracted_on: dt.date, source: str, rows: Iterable[tuple[str, bool]]
) -> tuple[ReservationExtract, int, int]:
    extract = ReservationExtract.objects.create(
        extracted_on=extracted_on,
        source=source,
        complete=source == ReservationExtract.Source.FILE,
        imported_at=now,
    )
    seen: set[str] = set()
    reserved = checked = 0
    batch: list[ReservedNumber] = []
    for digest, is_reserved in rows:
        if digest in seen:
            continue
        seen.add(digest)
        checked += 1
        reserved += is_reserved
        batch.append(ReservedNumber(extract=extract, digest=digest, reserved=is_reserved))
        if len(batch) >= BATCH:
            ReservedNumber.objects.bulk_create(batch)
            batch = []
    ReservedNumber.objects.bulk_create(batch)
    ReservationExtract.objects.filter(pk=extract.pk).update(reserved_count=reserved, checked_count=checked)
    audit.record(
        actor=actor,
        now=now,
        action="reservations_imported",
        subject_type="reservation_extract",
        subject_id=extract.pk,
        fields=[source],
    )
    return extract, reserved, checked


def _check_date(extracted_on: dt.date, now: dt.datetime) -> None:
    if extracted_on > now.date() + dt.timedelta(days=1):
        raise ValidationError("the extract date cannot be in the future", field="date")


@transaction.atomic
def import_extract(*, actor: Actor, now: dt.datetime, path: Path, extracted_on: dt.date) -> ImportSummary:
    """Store a file extract of the Reservasjonsregisteret of ``extracted_on`` as the register
    data in force (one transaction: the calls see the old extract or the whole new one).
    Lines without a valid number are counted as rejected and skipped."""
    _check_date(extracted_on, now)
    rejected = 0

    def rows() -> Iterator[tuple[str, bool]]:
        nonlocal rejected
        for number in _numbers_in(path):
            if number is None:
                rejected += 1
            else:
                yield _digest(number), True

    extract, reserved, checked = _store(
        actor=actor, now=now, extracted_on=extracted_on, source=ReservationExtract.Source.FILE, rows=rows()
    )
    return ImportSummary(extract.pk, extracted_on, reserved, checked, rejected)


class LookupFailedError(DomainError):
    """The lookup service could not be reached or gave an answer we cannot read."""

    code = "lookup_failed"
    status = 502


@dataclass(frozen=True)
class LookupAnswer:
    extracted_on: dt.date
    reserved: frozenset[str]


class LookupClient:
    """The adapter for the Reservasjonsregisteret's lookup service: ``POST <base_url>/lookup``
    with ``{"numbers": ["+47..."]}`` answers ``{"extracted_on": "YYYY-MM-DD", "reserved":
    [...]}``, the numbers among those asked about that are reserved and the day of the
    register's data. A different service is another class with the same ``lookup``."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str = "") -> None:
        if not base_url.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
            raise ValidationError("the lookup service must be reached over HTTPS", field="url")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def lookup(self, numbers: list[str]) -> LookupAnswer:
        body = json.dumps({"numbers": numbers}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{self.base_url}/lookup", data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked in __init__)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                answer = json.loads(response.read())
            extracted_on = dt.date.fromisoformat(answer["extracted_on"])
            reserved = frozenset(str(n) for n in answer["reserved"])
        except urllib.error.HTTPError as error:
            raise LookupFailedError(f"the lookup service answered {error.code}", field="url") from None
        except (OSError, ValueError, KeyError, TypeError):
            raise LookupFailedError(
                "the lookup service could not be reached or its answer is not readable", field="url"
            ) from None
        return LookupAnswer(extracted_on=extracted_on, reserved=reserved)


def record_lookup(*, actor: Actor, now: dt.datetime, client: LookupClient) -> ImportSummary:
    """Ask the lookup service about every number we hold (in batches, no transaction open
    while it answers), then store the answers as the register data in force in one
    transaction: the day of the oldest answer, each number reserved or not."""
    numbers = sorted(set(Person.objects.exclude(phone="").values_list("phone", flat=True).iterator()))
    answers: list[tuple[str, bool]] = []
    dates: list[dt.date] = []
    for start in range(0, len(numbers), LOOKUP_BATCH):
        batch = numbers[start : start + LOOKUP_BATCH]
        answer = client.lookup(batch)
        dates.append(answer.extracted_on)
        answers.extend((_digest(n), n in answer.reserved) for n in batch)
    extracted_on = min(dates, default=now.date())
    _check_date(extracted_on, now)
    with transaction.atomic():
        extract, reserved, checked = _store(
            actor=actor, now=now, extracted_on=extracted_on, source=ReservationExtract.Source.LOOKUP, rows=answers
        )
    return ImportSummary(extract.pk, extracted_on, reserved, checked, 0)


def check_marketing_call(*, now: dt.datetime, person_id: int) -> tuple[rule.CallCheck, ReservationExtract | None]:
    """May a marketing call to this person's number be made at ``now`` (markedsføringsloven
    §§12, 14): the register data in force, current and covering the number, within the
    calling hours. Returns the check and the extract it was made against."""
    from tillit.consent import selectors

    rules = policy.current().telemarketing
    assert rules is not None, "the policy has no [telemarketing]"
    extract = selectors.reservation_extract()
    covered = bool(selectors.numbers_checked(person_ids=[person_id]))
    check = rule.call_check(
        rules, at=now, extracted_on=extract.extracted_on if extract else None, number_checked=covered
    )
    return check, extract


def record_marketing_call_check(
    *,
    now: dt.datetime,
    person_id: int,
    interaction_id: int,
    purpose: str,
    extract: ReservationExtract,
    within_hours: bool,
) -> MarketingCallCheck:
    """Store what was checked for a logged marketing call, in the caller's transaction."""
    return MarketingCallCheck.objects.create(
        person_id=person_id,
        interaction_id=interaction_id,
        purpose=purpose,
        register_source=extract.source,
        register_extracted_on=extract.extracted_on,
        within_hours=within_hours,
        checked_at=now,
    )
