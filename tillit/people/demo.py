"""Demo data: realistic, obviously fictional Norwegian and Swedish B2B contacts, in bulk.

``generate_demo`` writes organisations, people, their interaction timeline, product interests,
customer relationships and provenance. Every benchmark uses it, so it is built for speed: the
names, streets and texts come from small pools made once (Faker is never called per row), rows
are made as text in a background thread while the database takes the previous chunk, and
PostgreSQL receives them through ``COPY`` (SQLite through ``executemany``). Memory is bounded
by the chunk size, and each chunk is written in one transaction, so foreign keys always hold.

The data is obviously fictional: emails end in the RFC 2606 ``.example`` domain, Norwegian
organisation numbers are random (with a valid check digit) and subjects and summaries are
generic texts that hold no personal data. The same seed and "now" give the same data.

``ensure_demo_staff`` creates one staff login per role in the policy file (§10).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import random
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from faker import Faker

from tillit import policy
from tillit.accounts import services as account_services
from tillit.audit import ledgers
from tillit.audit import services as audit
from tillit.consent.models import ConsentEvent, NoticeVersion, Subscription
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError
from tillit.people.models import CustomerRelationship, Interaction, Organization, Person, ProductInterest, Provenance
from tillit.policy import retention as retention_rules

__all__ = ["DemoSummary", "ProgressCallback", "ensure_demo_staff", "generate_demo", "people_count"]

ProgressCallback = Callable[[int, int], None]

MAX_PEOPLE = 10_000_000
# Everything happens within the last three years before "now".
WINDOW_SECONDS = 3 * 365 * 86_400
PEOPLE_PER_ORGANIZATION = 8
SHARE_NORWEGIAN = 0.7
SHARE_CUSTOMERS = 0.15
SHARE_NEWSLETTER = 0.35
SHARE_UNSUBSCRIBED = 0.25
SHARE_MARKETING_CONSENT = 0.20
SHARE_CUSTOMERS_ENDED = 1 / 3
# The provenance source of every demo row; it is a source in the policy file.
SOURCE = "demo"

PRODUCTS = (
    "Avara Cloud",
    "Avara Analytics",
    "Avara Backup",
    "Avara Connect",
    "Avara Secure",
    "Avara Field Service",
    "Avara Payroll",
    "Avara Support Plus",
)
# How many interactions a person has (each at least one: the contact that brought them in),
# as {count: weight}; the weights add up to 100 and the mean is exactly 5.
INTERACTIONS_PER_PERSON = {1: 13, 2: 14, 3: 12, 4: 11, 5: 10, 6: 9, 7: 8, 8: 7, 9: 6, 10: 5, 11: 2, 12: 2, 13: 1}
# How many products a person is interested in or has; mean exactly 1.
INTERESTS_PER_PERSON = {0: 35, 1: 35, 2: 25, 3: 5}

# (kind, direction, reached, weight, [(subject, summary)]); "{p}" becomes each product.
_Template = tuple[str, str, bool, int, Sequence[tuple[str, str]]]
_IN, _OUT, _INTERNAL = (Interaction.Direction.INBOUND, Interaction.Direction.OUTBOUND, Interaction.Direction.INTERNAL)
_K = Interaction.Kind
_FORM = [
    ("Asked about pricing for {p}", "Sent the contact form asking for a price list."),
    ("Requested a demo of {p}", "Would like a demo for their team."),
    ("Question about {p}", "Asked whether {p} works with their accounting system."),
]
_DOWNLOAD = [
    ("Downloaded the {p} product sheet", "Product sheet downloaded from the website."),
    ("Downloaded the guide Getting started with {p}", "Guide downloaded from the website."),
    ("Downloaded a customer story about {p}", ""),
]
_EMAIL_IN = [
    ("Re: Offer for {p}", "Replied with questions about the offer."),
    ("Re: Follow-up on {p}", "Replied that they will discuss it internally."),
    ("Question about an invoice", "Asked for a copy of an invoice."),
]
_EMAIL_OUT = [
    ("Offer for {p}", "Sent an offer."),
    ("Follow-up on {p}", "Followed up after the demo."),
    ("Invitation: webinar on {p}", ""),
]
_CALL_IN = [
    ("Called about {p}", "Had questions about the setup."),
    ("Called customer support", "Needed help with user administration."),
]
_CALL_OUT_REACHED = [
    ("Follow-up call about {p}", "Talked about needs and next steps."),
    ("Sales call about {p}", "Interested; asked for an offer."),
]
_CALL_OUT_MISSED = [
    ("Follow-up call about {p}", "No answer."),
    ("Sales call about {p}", "No answer; will try again later."),
]
_CHAT = [
    ("Chat: question about {p}", "Asked about licence terms in the chat."),
    ("Chat: support request", "Could not log in; solved in the chat."),
]
_ORDER = [
    ("Order: {p}", "Ordered {p} for 10 users."),
    ("Order: more licences for {p}", "Ordered 5 extra licences."),
]
_EVENT = [
    ("Attended the webinar What's new in {p}", ""),
    ("Registered for a breakfast seminar on {p}", "Registered for the seminar."),
]
_VISIT = [("Visited the {p} pricing page", ""), ("Visited the {p} product page", "")]
_NOTE = [
    ("Note: prefers contact by email", ""),
    ("Note: budget is decided in the third quarter", ""),
    ("Note: follow up about {p} next quarter", ""),
]
# The contact that brought a person in (their first interaction, at created_at).
FIRST_CONTACTS: tuple[_Template, ...] = (
    (_K.FORM, _IN, False, 35, _FORM),
    (_K.DOWNLOAD, _IN, False, 25, _DOWNLOAD),
    (_K.EVENT, _IN, False, 10, _EVENT),
    (_K.CHAT, _IN, False, 10, _CHAT),
    (_K.EMAIL, _IN, False, 10, _EMAIL_IN),
    (_K.CALL, _IN, False, 5, _CALL_IN),
    (_K.ORDER, _IN, False, 5, _ORDER),
)
# Everything after it. Outbound calls reach the person about half of the time.
LATER_CONTACTS: tuple[_Template, ...] = (
    (_K.FORM, _IN, False, 8, _FORM),
    (_K.DOWNLOAD, _IN, False, 10, _DOWNLOAD),
    (_K.EMAIL, _IN, False, 14, _EMAIL_IN),
    (_K.EMAIL, _OUT, False, 20, _EMAIL_OUT),
    (_K.CALL, _IN, False, 5, _CALL_IN),
    (_K.CALL, _OUT, True, 7, _CALL_OUT_REACHED),
    (_K.CALL, _OUT, False, 7, _CALL_OUT_MISSED),
    (_K.CHAT, _IN, False, 6, _CHAT),
    (_K.ORDER, _IN, False, 4, _ORDER),
    (_K.EVENT, _IN, False, 4, _EVENT),
    (_K.VISIT, _IN, False, 9, _VISIT),
    (_K.NOTE, _INTERNAL, False, 6, _NOTE),
)


@dataclass(frozen=True)
class _Locale:
    """What differs between Norwegian and Swedish demo data."""

    country: str
    faker_locale: str
    language: str
    phone_prefixes: tuple[str, ...]  # country code and the first digits of a valid mobile number
    phone_digits: int  # how many random digits follow the prefix
    company_suffixes: tuple[str, ...]
    company_prefixes: tuple[str, ...]
    # (word in the company name, industry code)
    company_words: tuple[tuple[str, str], ...]
    industry_code_version: str
    positions: tuple[str, ...]


NORWAY = _Locale(
    country="NO",
    faker_locale="no_NO",
    language="nb",
    phone_prefixes=("+4740", "+4741", "+4746", "+4747", "+4748", *(f"+479{d}" for d in range(10))),
    phone_digits=6,
    company_suffixes=("AS",) * 19 + ("ASA",),
    company_prefixes=("Nordic", "Fjord", "Vest", "Nord", "Polar", "Norsk", "Midt", "Kyst"),
    company_words=(
        ("Bygg", "41.200"),
        ("Data", "62.010"),
        ("IT", "62.020"),
        ("Eiendom", "68.209"),
        ("Transport", "49.410"),
        ("Regnskap", "69.201"),
        ("Rådgivning", "70.220"),
        ("Elektro", "43.210"),
        ("Rør", "43.220"),
        ("Maskin", "46.630"),
        ("Handel", "46.900"),
        ("Teknikk", "71.129"),
        ("Energi", "35.140"),
        ("Logistikk", "52.290"),
        ("Holding", "64.200"),
    ),
    industry_code_version="SN2007",
    positions=(
        "Daglig leder",
        "Økonomisjef",
        "IT-sjef",
        "Innkjøpsansvarlig",
        "Salgssjef",
        "Markedssjef",
        "HR-sjef",
        "Prosjektleder",
        "Driftsleder",
        "Regnskapsfører",
        "Controller",
        "Teknisk sjef",
        "Kundeservicesjef",
        "Systemansvarlig",
        "Kontorleder",
    ),
)
SWEDEN = _Locale(
    country="SE",
    faker_locale="sv_SE",
    language="sv",
    phone_prefixes=("+4670", "+4672", "+4673", "+4676", "+4679"),
    phone_digits=7,
    company_suffixes=("AB",),
    company_prefixes=("Nordic", "Svensk", "Norra", "Väst", "Skandia", "Mälar", "Öst"),
    company_words=(
        ("Bygg", "41200"),
        ("Data", "62010"),
        ("IT", "62020"),
        ("Fastigheter", "68209"),
        ("Transport", "49410"),
        ("Redovisning", "69201"),
        ("Konsult", "70220"),
        ("El", "43210"),
        ("VVS", "43220"),
        ("Maskin", "46630"),
        ("Handel", "46900"),
        ("Teknik", "71129"),
        ("Energi", "35140"),
        ("Logistik", "52290"),
        ("Holding", "64200"),
    ),
    industry_code_version="SNI2007",
    positions=(
        "VD",
        "Ekonomichef",
        "IT-chef",
        "Inköpschef",
        "Försäljningschef",
        "Marknadschef",
        "HR-chef",
        "Projektledare",
        "Driftschef",
        "Redovisningsekonom",
        "Controller",
        "Teknisk chef",
        "Kundtjänstchef",
        "Systemförvaltare",
        "Kontorschef",
    ),
)
ENGLISH_POSITIONS = (
    "CEO",
    "CFO",
    "CTO",
    "Head of IT",
    "Procurement Manager",
    "Sales Manager",
    "Marketing Manager",
    "Office Manager",
    "Project Manager",
    "Operations Manager",
)
# Share of people at a Norwegian or Swedish business who prefer English.
SHARE_ENGLISH = 0.15


@dataclass(frozen=True)
class DemoSummary:
    """What one ``generate_demo`` call wrote."""

    people: int
    organizations: int
    interactions: int
    product_interests: int
    customer_relationships: int
    provenance: int
    first_person_id: int
    last_person_id: int
    consents: int = 0
    subscriptions: int = 0


# --- text ------------------------------------------------------------------------------------

_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "ü": "u", "ß": "ss", "ð": "d", "þ": "th"})
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits joined by hyphens: "Ødegård & Sønner" -> "odegard-sonner"."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NOT_SLUG.sub("-", plain.replace("&", " ")).strip("-")


def _copy_escape(text: str) -> str:
    """A value in PostgreSQL's COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _identity(text: str) -> str:
    return text


def orgnr_check_digit(first_eight: str) -> int | None:
    """The mod-11 check digit of a Norwegian organisation number, or None when there is none (10)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_eight, (3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    check = (11 - total % 11) % 11
    return None if check == 10 else check


# --- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A table and the columns the generator fills, in row order, named from the model."""

    model: type[models.Model]
    fields: tuple[str, ...]

    @property
    def db_table(self) -> str:
        return self.model._meta.db_table

    @property
    def columns(self) -> list[str]:
        return [self.column(name) for name in self.fields]

    def column(self, name: str) -> str:
        column = getattr(self.model._meta.get_field(name), "column", None)
        if not isinstance(column, str):
            raise TypeError(f"{self.model.__name__}.{name} is not a column")
        return column


ORGANIZATIONS = _Table(
    Organization,
    (
        "id",
        "org_number",
        "name",
        "industry_code",
        "industry_code_version",
        "street",
        "postcode",
        "city",
        "country",
        "created_at",
        "updated_at",
    ),
)
PEOPLE = _Table(
    Person,
    (
        "id",
        "pseudonym",
        "name",
        "email",
        "phone",
        "position",
        "organization",
        "language",
        "owner",
        "last_contact_at",
        "notice_version",
        "retain_until",
        "retain_reason",
        "created_at",
        "updated_at",
    ),
)
INTERACTIONS = _Table(
    Interaction,
    ("id", "person", "kind", "direction", "reached", "occurred_at", "staff", "subject", "summary"),
)
INTERESTS = _Table(ProductInterest, ("id", "person", "product", "status", "recorded_at"))
RELATIONSHIPS = _Table(CustomerRelationship, ("id", "person", "started_at", "ended_at"))
PROVENANCE = _Table(Provenance, ("id", "person", "organization", "field", "source", "detail", "recorded_at"))
CONSENTS = _Table(
    ConsentEvent,
    (
        "id",
        "person",
        "purpose",
        "channel",
        "action",
        "basis",
        "occurred_at",
        "source_kind",
        "source_ref",
        "wording",
        "language",
        "notice_version",
        "evidence_ip",
        "evidence_user_agent",
    ),
)
SUBSCRIPTIONS = _Table(Subscription, ("id", "person", "newsletter", "subscribed_at", "unsubscribed_at"))
# In the order they are written (parents first).
TABLES = (ORGANIZATIONS, PEOPLE, INTERACTIONS, INTERESTS, RELATIONSHIPS, PROVENANCE, CONSENTS, SUBSCRIPTIONS)

Row = tuple[str | None, ...]


@dataclass
class _Chunk:
    people: int
    rows: dict[_Table, list[Row]]


@dataclass(frozen=True)
class _Dialect:
    """How values are spelled for one database: NULL, timestamps, text escaping."""

    null: str | None
    time_suffix: str  # after "YYYY-MM-DD HH:MM:SS"; the values are UTC
    escape: Callable[[str], str]
    # A UUID from its 32 hex digits, as Django stores a UUIDField there.
    uuid: Callable[[str], str]


def _uuid_with_dashes(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


POSTGRES = _Dialect(null="\\N", time_suffix="+00", escape=_copy_escape, uuid=_uuid_with_dashes)
# Django stores aware datetimes on SQLite as naive UTC text, "YYYY-MM-DD HH:MM:SS", and a
# UUIDField as 32 hex digits without dashes (a pseudonym with dashes would never match a
# lookup, so the links in a demo person's emails would fail).
SQLITE = _Dialect(null=None, time_suffix="", escape=_identity, uuid=_identity)


# --- pools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pools:
    """Names, addresses and words for one locale, made once per run (already escaped)."""

    locale: _Locale
    first_names: tuple[tuple[str, str], ...]  # (name, ascii slug)
    last_names: tuple[tuple[str, str], ...]
    streets: tuple[str, ...]
    postcodes: tuple[str, ...]
    cities: tuple[str, ...]
    positions: tuple[str, ...]


def _unique(values: Iterator[str], count: int) -> list[str]:
    # dict keeps the first-seen order, so the pool is the same for the same seed.
    return list(dict.fromkeys(value.strip() for _, value in zip(range(count), values, strict=False) if value.strip()))


def _make_pools(locale: _Locale, *, seed: int, escape: Callable[[str], str]) -> _Pools:
    fake = Faker(locale.faker_locale)
    fake.seed_instance(seed)

    def names(make: Callable[[], str]) -> tuple[tuple[str, str], ...]:
        found = _unique(iter(make, None), 5_000)
        return tuple((escape(name), ascii_slug(name)) for name in found if ascii_slug(name))

    return _Pools(
        locale=locale,
        first_names=names(fake.first_name),
        last_names=names(fake.last_name),
        streets=tuple(escape(s) for s in _unique(iter(fake.street_address, None), 2_000)),
        postcodes=tuple(escape(s) for s in _unique(iter(fake.postcode, None), 500)),
        cities=tuple(escape(s) for s in _unique(iter(fake.city, None), 500)),
        positions=tuple(escape(s) for s in locale.positions),
    )


def _weighted(weights: dict[int, int]) -> tuple[int, ...]:
    return tuple(value for value, weight in weights.items() for _ in range(weight))


@dataclass(frozen=True)
class _Contact:
    """One ready-made interaction: its kind, direction, reached, texts and whether it counts."""

    kind: str
    direction: str
    reached: str
    subject: str
    summary: str
    counts: bool


def _contacts(templates: Sequence[_Template], *, escape: Callable[[str], str]) -> tuple[_Contact, ...]:
    """A table to pick from uniformly: each template appears in proportion to its weight, its
    texts in turn. Whether a contact moves the retention clock is the policy's decision (§9)."""
    rules = policy.current()
    table: list[_Contact] = []
    for kind, direction, reached, weight, texts in templates:
        counts = retention_rules.counts_as_contact(rules, kind=kind, direction=direction, reached=reached)
        expanded = [
            (subject.format(p=product), summary.format(p=product))
            for subject, summary in texts
            for product in (PRODUCTS if "{p}" in subject + summary else PRODUCTS[:1])
        ]
        for i in range(weight * 24):
            subject, summary = expanded[i % len(expanded)]
            table.append(
                _Contact(str(kind), str(direction), "1" if reached else "0", escape(subject), escape(summary), counts)
            )
    return tuple(table)


# --- the generator -----------------------------------------------------------------------------


@dataclass
class _Ids:
    """The next id of each table."""

    next: dict[_Table, int] = field(default_factory=dict)

    def take(self, table: _Table, count: int = 1) -> int:
        first = self.next[table]
        self.next[table] = first + count
        return first


class _Generator:
    """Makes the rows, chunk by chunk, from one random stream (the same seed, the same rows)."""

    def __init__(
        self,
        *,
        seed: int,
        now: dt.datetime,
        dialect: _Dialect,
        ids: _Ids,
        used_orgnrs: set[str],
        notice_version_id: int,
    ) -> None:
        # Demo data, not secrets: a seeded, reproducible stream is the point.
        self.rng = random.Random(seed)  # noqa: S311
        # Separate streams for the values that must differ between batches (pseudonyms, and
        # organisation numbers, which may need a retry), so the rest stays the same per seed.
        batch = f"tillit-demo:{seed}:{ids.next[PEOPLE]}"
        self.unique_rng = random.Random(batch)  # noqa: S311
        self.dialect = dialect
        self.ids = ids
        self.used_orgnrs = used_orgnrs
        self.now_s = int(now.timestamp())
        self.start_s = self.now_s - WINDOW_SECONDS
        self.pools = {
            locale.country: _make_pools(locale, seed=seed, escape=dialect.escape) for locale in (NORWAY, SWEDEN)
        }
        self.english_positions = tuple(dialect.escape(p) for p in ENGLISH_POSITIONS)
        self.first_contacts = _contacts(FIRST_CONTACTS, escape=dialect.escape)
        self.later_contacts = _contacts(LATER_CONTACTS, escape=dialect.escape)
        self.interaction_counts = _weighted(INTERACTIONS_PER_PERSON)
        self.interest_counts = _weighted(INTERESTS_PER_PERSON)
        self.products = tuple(dialect.escape(p) for p in PRODUCTS)
        # Timestamps as text from two small tables: the day, and the time of day.
        self.first_day = self.start_s // 86_400
        epoch = dt.date(1970, 1, 1)
        # Deadlines run up to a few years ahead of now.
        self.days = [
            (epoch + dt.timedelta(days=day)).isoformat()
            for day in range(self.first_day, self.now_s // 86_400 + 6 * 366)
        ]
        self.notice_version = str(notice_version_id)
        self.policy = policy.current()
        self.newsletter_wording = dialect.escape(NEWSLETTER_WORDING)
        self.marketing_wording = dialect.escape(MARKETING_WORDING)
        suffix = dialect.time_suffix
        self.times = [f" {s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}{suffix}" for s in range(86_400)]

    def timestamp(self, seconds: int) -> str:
        days, rest = divmod(seconds, 86_400)
        return self.days[days - self.first_day] + self.times[rest]

    def orgnr(self) -> str:
        rng = self.unique_rng
        while True:
            first_eight = str(rng.randrange(80_000_000, 100_000_000))
            check = orgnr_check_digit(first_eight)
            if check is None:
                continue
            number = f"{first_eight}{check}"
            if number not in self.used_orgnrs:
                self.used_orgnrs.add(number)
                return number

    def organizations(self, count: int) -> list[tuple[Row, _Pools, str, int]]:
        """``count`` organisations: (row, locale pools, email domain, created_at seconds)."""
        rand, choice, null = self.rng.random, self.rng.choice, self.dialect.null
        first_id = self.ids.take(ORGANIZATIONS, count)
        made: list[tuple[Row, _Pools, str, int]] = []
        for org_id in range(first_id, first_id + count):
            pools = self.pools["NO" if rand() < SHARE_NORWEGIAN else "SE"]
            locale = pools.locale
            last, last_slug = choice(pools.last_names)
            word, industry = choice(locale.company_words)
            shape = rand()
            if shape < 0.5:
                base = f"{last} {word}"
            elif shape < 0.65:
                other = choice(pools.last_names)[0]
                base = f"{last} & {other}"
            elif shape < 0.85:
                base = last
            else:
                base = f"{choice(locale.company_prefixes)} {word}"
            name = f"{base} {choice(locale.company_suffixes)}"
            domain = f"{ascii_slug(base)[:50].strip('-') or last_slug}.example"
            created = self.start_s + int(WINDOW_SECONDS * rand() ** 2)
            created_text = self.timestamp(created)
            row = (
                str(org_id),
                self.orgnr() if locale.country == "NO" else null,
                self.dialect.escape(name),
                industry,
                locale.industry_code_version,
                choice(pools.streets),
                choice(pools.postcodes),
                choice(pools.cities),
                locale.country,
                created_text,
                created_text,
            )
            made.append((row, pools, domain, created))
        return made

    def chunk(self, people: int) -> _Chunk:
        """Rows for ``people`` people and their organisations, interactions and the rest."""
        rng, null, ids, now_s = self.rng, self.dialect.null, self.ids, self.now_s
        rand, sample, getrandbits = rng.random, rng.sample, self.unique_rng.getrandbits
        timestamp = self.timestamp
        first_contacts, later_contacts = self.first_contacts, self.later_contacts
        n_first, n_later = len(first_contacts), len(later_contacts)
        interaction_counts, interest_counts = self.interaction_counts, self.interest_counts
        products, english_positions = self.products, self.english_positions
        source, has, interested = SOURCE, ProductInterest.Status.HAS.value, ProductInterest.Status.INTERESTED.value

        orgs = self.organizations(max(1, round(people / PEOPLE_PER_ORGANIZATION)))
        n_orgs = len(orgs)
        person_rows: list[Row] = []
        interaction_rows: list[Row] = []
        interest_rows: list[Row] = []
        relationship_rows: list[Row] = []
        consent_rows: list[Row] = []
        subscription_rows: list[Row] = []
        provenance_rows: list[Row] = [
            (str(ids.take(PROVENANCE)), null, row[0], "name", source, "", row[9]) for row, _, _, _ in orgs
        ]
        interaction_id = ids.next[INTERACTIONS]
        interest_id = ids.next[INTERESTS]
        first_person = ids.take(PEOPLE, people)
        for person_id in range(first_person, first_person + people):
            pid = str(person_id)
            # A few large businesses, many small ones.
            org_row, pools, domain, org_created = orgs[int(n_orgs * rand() ** 2)]
            locale = pools.locale
            first, first_slug = pools.first_names[int(rand() * len(pools.first_names))]
            last, last_slug = pools.last_names[int(rand() * len(pools.last_names))]
            if rand() < SHARE_ENGLISH:
                language, position = "en", english_positions[int(rand() * len(english_positions))]
            else:
                language, position = locale.language, pools.positions[int(rand() * len(pools.positions))]
            prefixes, digits = locale.phone_prefixes, locale.phone_digits
            phone = f"{prefixes[int(rand() * len(prefixes))]}{int(rand() * 10**digits):0{digits}d}"
            created = org_created + int(rand() * (now_s - org_created))
            span = now_s - created

            # The timeline: the contact that brought them in, then the rest, in time order.
            count = interaction_counts[int(rand() * 100)]
            moments = sorted([created + int(rand() * span) for _ in range(count - 1)])
            contact = first_contacts[int(rand() * n_first)]
            last_contact = created if contact.counts else None
            interaction_rows.append(
                (
                    str(interaction_id),
                    pid,
                    contact.kind,
                    contact.direction,
                    contact.reached,
                    timestamp(created),
                    null,
                    contact.subject,
                    contact.summary,
                )
            )
            interaction_id += 1
            for moment in moments:
                contact = later_contacts[int(rand() * n_later)]
                if contact.counts:
                    last_contact = moment
                interaction_rows.append(
                    (
                        str(interaction_id),
                        pid,
                        contact.kind,
                        contact.direction,
                        contact.reached,
                        timestamp(moment),
                        null,
                        contact.subject,
                        contact.summary,
                    )
                )
                interaction_id += 1

            is_customer = rand() < SHARE_CUSTOMERS
            ended_s: int | None = None
            started_s: int | None = None
            active_customer = False
            if is_customer:
                started = started_s = created + int(rand() * span)
                if rand() < SHARE_CUSTOMERS_ENDED:
                    ended_s = started + int(rand() * (now_s - started))
                else:
                    active_customer = True
                ended = null if ended_s is None else timestamp(ended_s)
                relationship_rows.append((str(ids.take(RELATIONSHIPS)), pid, timestamp(started), ended))

            # Consents given in the sign-up form, and the newsletter subscription that follows;
            # some unsubscribed later (and the ledger shows the withdrawal).
            subscribed = unsubscribed_s = None
            if rand() < SHARE_NEWSLETTER:
                created_text_ = timestamp(created)
                consent_rows.append(
                    (
                        str(ids.take(CONSENTS)),
                        pid,
                        "newsletter",
                        "email",
                        "given",
                        "consent",
                        created_text_,
                        "form",
                        "demo-signup-form",
                        self.newsletter_wording,
                        language,
                        self.notice_version,
                        "",
                        "",
                    )
                )
                subscribed = True
                if rand() < SHARE_UNSUBSCRIBED:
                    unsubscribed_s = created + int(rand() * span)
                    subscribed = False
                    consent_rows.append(
                        (
                            str(ids.take(CONSENTS)),
                            pid,
                            "newsletter",
                            "email",
                            "withdrawn",
                            "consent",
                            timestamp(unsubscribed_s),
                            "email_link",
                            "demo-unsubscribe",
                            UNSUBSCRIBE_WORDING,
                            language,
                            self.notice_version,
                            "",
                            "",
                        )
                    )
                subscription_rows.append(
                    (
                        str(ids.take(SUBSCRIPTIONS)),
                        pid,
                        DEMO_NEWSLETTER,
                        created_text_,
                        null if unsubscribed_s is None else timestamp(unsubscribed_s),
                    )
                )
            if rand() < SHARE_MARKETING_CONSENT:
                consent_rows.append(
                    (
                        str(ids.take(CONSENTS)),
                        pid,
                        "direct_marketing",
                        "email",
                        "given",
                        "consent",
                        timestamp(created),
                        "form",
                        "demo-signup-form",
                        self.marketing_wording,
                        language,
                        self.notice_version,
                        "",
                        "",
                    )
                )
            # The deadline, by the one rule (§9), from the facts just made.
            decision = retention_rules.retain_until(
                self.policy,
                retention_rules.RetentionFacts(
                    registered_at=_utc(created),
                    last_contact_at=None if last_contact is None else _utc(last_contact),
                    is_subscribed=bool(subscribed),
                    unsubscribed_at=None if unsubscribed_s is None else _utc(unsubscribed_s),
                    is_customer=active_customer,
                    customer_ended_at=None if ended_s is None else _utc(ended_s),
                    # Demo customers use no service and have no order lines: their open
                    # relationship ends months after it started (§9, retention.customer).
                    customer_since=None if started_s is None or not active_customer else _utc(started_s),
                ),
            )
            until = null if decision.retain_until is None else timestamp(int(decision.retain_until.timestamp()))
            n_interests = interest_counts[int(rand() * 100)]
            if is_customer and not n_interests:
                n_interests = 1
            if n_interests:
                for j, product in enumerate(sample(products, n_interests)):
                    status = has if (is_customer and j == 0) or rand() < 0.1 else interested
                    moment = created + int(rand() * span)
                    interest_rows.append((str(interest_id), pid, product, status, timestamp(moment)))
                    interest_id += 1

            bits = getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
            h = f"{bits:032x}"
            created_text = timestamp(created)
            person_rows.append(
                (
                    pid,
                    self.dialect.uuid(h),
                    f"{first} {last}",
                    f"{first_slug}.{last_slug}.{pid}@{domain}",
                    phone,
                    position,
                    org_row[0],
                    language,
                    null,
                    null if last_contact is None else timestamp(last_contact),
                    self.notice_version,
                    until,
                    decision.reason,
                    created_text,
                    created_text,
                )
            )
            provenance_rows.append((str(ids.take(PROVENANCE)), pid, null, "email", source, "", created_text))
        ids.next[INTERACTIONS] = interaction_id
        ids.next[INTERESTS] = interest_id
        return _Chunk(
            people=people,
            rows={
                ORGANIZATIONS: [row for row, _, _, _ in orgs],
                PEOPLE: person_rows,
                INTERACTIONS: interaction_rows,
                INTERESTS: interest_rows,
                RELATIONSHIPS: relationship_rows,
                PROVENANCE: provenance_rows,
                CONSENTS: consent_rows,
                SUBSCRIPTIONS: subscription_rows,
            },
        )


# --- the database ------------------------------------------------------------------------------


def _quote(connection: BaseDatabaseWrapper, table: _Table) -> tuple[str, str]:
    qn = connection.ops.quote_name
    return qn(table.db_table), ", ".join(qn(column) for column in table.columns)


def _first_ids(connection: BaseDatabaseWrapper) -> _Ids:
    """The first free id of every table: past the largest id ever handed out, so an id of a
    deleted (erased) row is never reused."""
    ids = _Ids()
    with connection.cursor() as cursor:
        for table in TABLES:
            name, _ = _quote(connection, table)
            pk = connection.ops.quote_name(table.column("id"))
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"SELECT GREATEST(COALESCE(MAX({pk}), 0), "  # noqa: S608 (names from the model)
                    f"COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, %s)), 0)) FROM {name}",
                    [table.db_table, table.column("id")],
                )
                (largest,) = cursor.fetchone()
            else:
                cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {name}")  # noqa: S608
                (largest,) = cursor.fetchone()
                cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [table.db_table])
                largest = max(largest, cursor.fetchone()[0])
            ids.next[table] = int(largest) + 1
    return ids


def _write_postgres(connection: BaseDatabaseWrapper, chunk: _Chunk) -> None:
    raw = connection.connection
    with raw.cursor() as cursor:
        for table in TABLES:
            rows = chunk.rows[table]
            if not rows:
                continue
            name, columns = _quote(connection, table)
            with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                copy.write("\n".join(map("\t".join, rows)) + "\n")  # type: ignore[arg-type]


def _write_sqlite(connection: BaseDatabaseWrapper, chunk: _Chunk) -> None:
    raw = connection.connection
    for table in TABLES:
        rows = chunk.rows[table]
        if not rows:
            continue
        name, columns = _quote(connection, table)
        marks = ", ".join("?" * len(table.fields))
        raw.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _finish_postgres(connection: BaseDatabaseWrapper) -> None:
    """Move each id sequence past the rows written, and refresh the planner's statistics."""
    with connection.cursor() as cursor:
        for table in TABLES:
            name, _ = _quote(connection, table)
            pk = table.column("id")
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), GREATEST("  # noqa: S608
                f"(SELECT COALESCE(MAX({connection.ops.quote_name(pk)}), 1) FROM {name}), "
                "COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, %s)), 1)))",
                [table.db_table, pk, table.db_table, pk],
            )
        cursor.execute("ANALYZE " + ", ".join(_quote(connection, table)[0] for table in TABLES))


def _chunks_in_background(generator: _Generator, sizes: list[int]) -> Iterator[_Chunk]:
    """The chunks, made one ahead in a thread while the caller writes the previous one."""
    done = object()
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for size in sizes:
                if stop.is_set():
                    return
                ready.put(generator.chunk(size))
            ready.put(done)
        except BaseException as error:  # handed to the consumer, which raises it
            ready.put(error)

    worker = threading.Thread(target=produce, name="tillit-demo-rows", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _Chunk)
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a producer blocked on a full queue finish
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        worker.join()


def people_count(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """How many people there are (``tillit demo --if-empty`` asks)."""
    return Person.objects.using(using).count()


def generate_demo(
    *,
    people: int,
    seed: int,
    now: dt.datetime,
    progress: ProgressCallback | None = None,
    actor: Actor | None = None,
    chunk_size: int = 25_000,
    using: str = DEFAULT_DB_ALIAS,
) -> DemoSummary:
    """Write ``people`` demo people (about one organisation per eight people, about five
    interactions and one product interest per person, 15 % customers) in chunks of
    ``chunk_size`` people, each chunk in one transaction. Adds to what is there: ids continue
    after the largest ever used, and emails carry the person id, so they stay unique.

    ``progress(done, total)`` is called with the number of people written after each chunk.
    One audit entry records the batch (not the values, which are fictional anyway).
    """
    if not 1 <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be between 1 and {MAX_PEOPLE:,}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    connection = connections[using]
    if connection.vendor == "postgresql":
        dialect, write = POSTGRES, _write_postgres
    elif connection.vendor == "sqlite":
        dialect, write = SQLITE, _write_sqlite
    else:
        raise NotImplementedError(f"demo data for {connection.vendor} is not supported")
    connection.ensure_connection()

    ids = _first_ids(connection)
    start = dict(ids.next)
    taken = Organization.objects.using(using).exclude(org_number=None).values_list("org_number", flat=True)
    used_orgnrs = {number for number in taken.iterator() if number}
    notice = NoticeVersion.objects.using(using).order_by("-published_at", "-pk").first()
    if notice is None:
        raise ConflictError("no privacy notice is published yet: run `tillit notice publish` first")
    generator = _Generator(
        seed=seed, now=now, dialect=dialect, ids=ids, used_orgnrs=used_orgnrs, notice_version_id=notice.pk
    )
    sizes = [min(chunk_size, people - done) for done in range(0, people, chunk_size)]
    counts = dict.fromkeys(TABLES, 0)
    done = 0
    if progress is not None:
        progress(0, people)
    for chunk in _chunks_in_background(generator, sizes):
        with transaction.atomic(using=using):
            write(connection, chunk)
            consent_ids = [int(str(row[0])) for row in chunk.rows.get(CONSENTS, [])]
            if consent_ids:  # sealed in the chunk's transaction (tillit.audit.ledgers)
                ledgers.seal("consent", where={"pk__gte": min(consent_ids), "pk__lte": max(consent_ids)})
        for table, rows in chunk.rows.items():
            counts[table] += len(rows)
        done += chunk.people
        if progress is not None:
            progress(done, people)
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            _finish_postgres(connection)
        _open_demo_dialogues(connection, start[PEOPLE], start[PEOPLE] + counts[PEOPLE] - 1, now)
        audit.record(
            actor=actor or Actor.system("demo"),
            now=now,
            action="generate_demo",
            subject_type="person",
            subject_id=None,
        )
    return DemoSummary(
        people=counts[PEOPLE],
        organizations=counts[ORGANIZATIONS],
        interactions=counts[INTERACTIONS],
        product_interests=counts[INTERESTS],
        customer_relationships=counts[RELATIONSHIPS],
        provenance=counts[PROVENANCE],
        consents=counts[CONSENTS],
        subscriptions=counts[SUBSCRIPTIONS],
        first_person_id=start[PEOPLE],
        last_person_id=start[PEOPLE] + counts[PEOPLE] - 1,
    )


# How long after their latest request a demo person's sales dialogue is still open.
DEMO_DIALOGUE_DAYS = 180


def _open_demo_dialogues(connection: BaseDatabaseWrapper, first: int, last: int, now: dt.datetime) -> None:
    """An open dialogue (people.Dialogue) for each demo person whose latest request (inbound
    contact of a kind the policy's ``[dialogues] requests`` names) came in the last
    ``DEMO_DIALOGUE_DAYS``, as a request would have opened it; set-based, one statement."""
    from tillit.people.models import Dialogue

    rules = policy.current().dialogues
    kinds = sorted(rules.requests)
    if not kinds or last < first:
        return
    marks = ", ".join(["%s"] * len(kinds))
    table, interactions = Dialogue._meta.db_table, Interaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (person_id, kind, opened_at, request_id) "  # noqa: S608 (model tables)
            f"SELECT i.person_id, %s, i.occurred_at, i.id FROM {interactions} i "
            f"WHERE i.person_id BETWEEN %s AND %s AND i.direction = 'inbound' AND i.kind IN ({marks}) "
            "AND i.occurred_at >= %s AND NOT EXISTS ("
            f"SELECT 1 FROM {interactions} j WHERE j.person_id = i.person_id AND j.direction = 'inbound' "
            f"AND j.kind IN ({marks}) "
            "AND (j.occurred_at > i.occurred_at OR (j.occurred_at = i.occurred_at AND j.id > i.id)))",
            [rules.opens, first, last, *kinds, now - dt.timedelta(days=DEMO_DIALOGUE_DAYS), *kinds],
        )


# --- staff -------------------------------------------------------------------------------------


def demo_password(role: str) -> str:
    """The fixed, published password of a demo login. Demo systems only."""
    return f"demo-{role}-2026"


def ensure_demo_staff(*, now: dt.datetime, actor: Actor | None = None) -> list[tuple[str, str, str]]:
    """One staff login per role in the policy file (§10): (username, role, password). The
    username is the role key with hyphens ("customer-support"). Logins that exist are left as
    they are (and reported with their demo password)."""
    actor = actor or Actor.system("demo")
    logins = []
    for role in policy.current().roles:
        username, password = role.replace("_", "-"), demo_password(role)
        with contextlib.suppress(ConflictError):
            account_services.create_staff_user(actor=actor, now=now, username=username, role=role, password=password)
        logins.append((username, role, password))
    return logins


# --- demo texts ------------------------------------------------------------------------------------

DEMO_NEWSLETTER = "monthly-insights"
NEWSLETTER_WORDING = "Yes, send me Avara's monthly newsletter by email. I can unsubscribe at any time."
MARKETING_WORDING = "Yes, Avara may email me about its products. I can withdraw this at any time."
UNSUBSCRIBE_WORDING = "Unsubscribe"


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def enrol_demo_totp(*, usernames: Sequence[str]) -> None:
    """Give each demo login a confirmed TOTP device, so a demo can sign in without a phone:
    ``tillit demo_code USERNAME`` prints the current code (demo systems only)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tillit.accounts.models import User

    for user in User.objects.filter(username__in=usernames):
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
