"""The policy as typed, frozen objects. Built only by ``tillit.policy.loader``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Labels = Mapping[str, str]  # language code -> text


@dataclass(frozen=True)
class Controller:
    name: str
    organisation_number: str
    street: str
    postcode: str
    city: str
    country: str
    email: str
    phone: str
    website: str


@dataclass(frozen=True)
class SupervisoryAuthority:
    name: str
    website: str
    country: str


@dataclass(frozen=True)
class Category:
    key: str
    section: int
    label: Labels


@dataclass(frozen=True)
class Exemption:
    """An exemption from telling people individually (GDPR art. 14(5)) that the policy claims
    for an indirect source: the article's point and why it applies, in every language."""

    article: str  # "14(5)(a)" ... "14(5)(d)"
    reason: Labels


@dataclass(frozen=True)
class Source:
    key: str
    section: int
    direct: bool
    label: Labels
    # GDPR art. 14, for a published source we do not hear from the person through
    # (``direct = false``): "notify" (we tell each person within a month) or "exempt" (the
    # policy claims ``exemption`` and the notice says so). None for direct sources, and for
    # unpublished ones (section 0, demo data).
    art14: str | None = None
    exemption: Exemption | None = None


@dataclass(frozen=True)
class Channel:
    key: str
    label: Labels


@dataclass(frozen=True)
class Assessment:
    key: str
    title: str
    dated: dt.date


@dataclass(frozen=True)
class CompatibilityAssessment:
    """GDPR art. 6(4): why a purpose added after the data was collected, on a basis other than
    consent, is compatible with the purposes it was collected for: the five factors (a)-(e)
    and the date of the assessment."""

    key: str
    title: str
    dated: dt.date
    link: str  # (a) the link between the purposes
    context: str  # (b) the context of collection, the relationship with the person
    nature: str  # (c) the nature of the data (art. 9, art. 10 data)
    consequences: str  # (d) the possible consequences for the person
    safeguards: str  # (e) the safeguards (encryption, pseudonymisation, ...)


@dataclass(frozen=True)
class ImpactAssessment:
    """GDPR art. 35: a data protection impact assessment (``kind = "dpia"``) or the documented
    screening that concluded none is needed (``kind = "screening"``), by its document reference,
    date and conclusion."""

    key: str
    kind: str  # "dpia" | "screening"
    title: str
    reference: str
    dated: dt.date
    conclusion: str


@dataclass(frozen=True)
class JointController:
    """A partner that decides with us why and how data is processed (GDPR art. 26): the
    agreement, and the essence of the arrangement, published in the notice (art. 26(2))."""

    key: str  # the partner's key (sharing.Partner.key)
    section: int
    name: str
    agreement_reference: str
    agreement_dated: dt.date
    essence: Labels


@dataclass(frozen=True)
class SoleProprietorships:
    """§6, GDPR art. 4(1): the organisation forms that are a natural person (ENK), and how long
    such an organisation is kept with no person linked to it, after it was last obtained."""

    section: int = 6
    forms: frozenset[str] = frozenset()
    years: int = 2


@dataclass(frozen=True)
class Purpose:
    key: str
    section: int
    label: Labels
    bases: Mapping[str, str]  # channel -> legal basis
    exceptions: Mapping[str, tuple[str, ...]]  # channel -> statutory exceptions to consent
    assessment: str | None
    objectable: bool
    marketing: bool
    categories: tuple[str, ...]
    # "open_dialogue": reaches only people in an open dialogue of a kind that serves it (§7).
    requires: str | None = None
    # Art. 6(4): the compatibility assessment of a purpose added after collection (not consent).
    compatibility: str | None = None
    # Art. 35: a purpose that profiles people, and its DPIA or screening.
    profiling: bool = False
    impact_assessment: str | None = None


@dataclass(frozen=True)
class DialogueRetention:
    section: int
    years: int
    inbound_kinds: frozenset[str]
    answered_outbound_kinds: frozenset[str]


@dataclass(frozen=True)
class NewsletterRetention:
    section: int
    years_after_unsubscribe: int


@dataclass(frozen=True)
class CustomerRetention:
    section: int
    while_active: bool
    # A relationship with no active service ends this many months after the last order.
    months_after_last_order: int


@dataclass(frozen=True)
class OwnRecordsRetention:
    """How long our own proof is kept: the audit log and the erasure receipts."""

    section: int
    audit_log_months: int
    erasure_receipt_months: int


@dataclass(frozen=True)
class LegalHold:
    key: str
    section: int
    records: tuple[str, ...]
    years: int
    basis: str


@dataclass(frozen=True)
class Retention:
    dialogue: DialogueRetention
    newsletter: NewsletterRetention
    customer: CustomerRetention
    legal_holds: Mapping[str, LegalHold]
    raw_visit_months: int
    own_records: OwnRecordsRetention


@dataclass(frozen=True)
class Role:
    key: str
    section: int
    label: Labels
    access: Mapping[str, frozenset[str]]  # purpose -> categories visible for it
    tools: frozenset[str]  # staff pages without personal data the role may use


@dataclass(frozen=True)
class PartnerRules:
    section: int
    sells_data: bool
    requires: str
    categories: tuple[str, ...]
    event_categories: tuple[str, ...]
    # The kinds of dialogue with a partner (sales, customer) -> the purpose each serves.
    dialogues: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class DialogueRules:
    """``[dialogues]`` (§7, §11): which inbound contact is a request that opens a dialogue,
    and the kind of dialogue it opens."""

    section: int = 7
    requests: frozenset[str] = frozenset()
    opens: str = ""


@dataclass(frozen=True)
class ProductCategory:
    key: str
    label: Labels


@dataclass(frozen=True)
class Product:
    """A product we market (§8, mfl. §15(3)): its key, its name on orders, its category."""

    key: str
    name: str
    category: str


@dataclass(frozen=True)
class Storage:
    section: int
    system: str
    location: str


@dataclass(frozen=True)
class SubProcessor:
    name: str
    service: str
    country: str  # ISO 3166-1 alpha-2
    # The transfer mechanism (GDPR chapter V) when ``country`` is outside the EEA, else None.
    transfer: str | None = None


@dataclass(frozen=True)
class Processor:
    key: str
    section: int
    name: str
    role: str
    country: str
    agreement_dated: dt.date
    location: str
    sub_processors: tuple[SubProcessor, ...]
    agreement_reference: str = ""


@dataclass(frozen=True)
class Rights:
    section: int
    available: tuple[str, ...]
    verification: tuple[str, ...]
    response_months: int
    extension_months: int
    contact_email: str


@dataclass(frozen=True)
class RestrictionRules:
    """GDPR art. 18: who may still read a restricted person, and for which purposes (§13)."""

    section: int = 13
    readers: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeRules:
    section: int
    inform_before_new_purpose: bool
    # The purposes the data was first collected for; a later purpose not resting on consent
    # needs its compatibility assessment (art. 6(4)).
    original_purposes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cookie:
    name: str
    purpose: str
    duration_days: int


@dataclass(frozen=True)
class CookieCategory:
    key: str
    section: int
    consent_required: bool
    purpose: str | None
    label: Labels
    cookies: tuple[Cookie, ...]


@dataclass(frozen=True)
class ConsentLifetime:
    """§5, §15: how long a consent lasts without renewal or engagement, per purpose resting on
    consent (``months``); what counts as the person's engagement; when the renewal email may
    ask (``renewal_days_before`` the consent lapses); how long a cookie choice is valid."""

    section: int = 5
    months: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    engagement_inbound_kinds: frozenset[str] = frozenset()
    engagement_answered_outbound_kinds: frozenset[str] = frozenset()
    renewal_days_before: int = 30
    cookie_choice_months: int = 6


@dataclass(frozen=True)
class EmailAndPhone:
    section: int
    log_calls_and_emails: bool
    mailbox_review_months: int
    sensitive_data_by_email: bool
    mailbox_review_reminder_days: int


@dataclass(frozen=True)
class Telemarketing:
    """§8 by phone, markedsføringsloven §§12-14: how old the Reservasjonsregisteret extract may
    be, and when marketing calls are permitted (weekdays by name, the window as minutes after
    local midnight, the fixed holidays as (month, day), the movable ones as days from Easter
    Sunday), in ``timezone``."""

    section: int
    register_max_age_months: int
    timezone: str
    days: tuple[int, ...]  # 0 = Monday
    starts_minute: int
    ends_minute: int
    holidays: tuple[tuple[int, int], ...]
    easter_holidays: tuple[int, ...]


@dataclass(frozen=True)
class Policy:
    """The whole policy. ``digest`` is the SHA-256 of the file it was loaded from."""

    name: str
    languages: tuple[str, ...]
    default_language: str
    controller: Controller
    supervisory_authority: SupervisoryAuthority
    categories: Mapping[str, Category]
    sources: Mapping[str, Source]
    channels: Mapping[str, Channel]
    assessments: Mapping[str, Assessment]
    purposes: Mapping[str, Purpose]
    retention: Retention
    roles: Mapping[str, Role]
    partners: PartnerRules
    storage: Storage
    processors: Mapping[str, Processor]
    rights: Rights
    notice: NoticeRules
    cookies: Mapping[str, CookieCategory]
    email_and_phone: EmailAndPhone
    digest: str
    # The TOML text the policy was loaded from (kept with each published policy version).
    source_text: str = field(default="", repr=False, compare=False)
    dialogues: DialogueRules = field(default_factory=DialogueRules)
    product_categories: Mapping[str, ProductCategory] = field(default_factory=lambda: MappingProxyType({}))
    products: Mapping[str, Product] = field(default_factory=lambda: MappingProxyType({}))
    restriction: RestrictionRules = field(default_factory=RestrictionRules)
    consent_lifetime: ConsentLifetime = field(default_factory=ConsentLifetime)
    # §8 by phone (markedsføringsloven §§12-14); the loader requires it.
    telemarketing: Telemarketing | None = None
    compatibility: Mapping[str, CompatibilityAssessment] = field(default_factory=lambda: MappingProxyType({}))
    impact_assessments: Mapping[str, ImpactAssessment] = field(default_factory=lambda: MappingProxyType({}))
    joint_controllers: Mapping[str, JointController] = field(default_factory=lambda: MappingProxyType({}))
    sole_proprietorships: SoleProprietorships = field(default_factory=SoleProprietorships)


def frozen_map(items: Mapping[str, object]) -> MappingProxyType:  # type: ignore[type-arg]
    """A read-only view of a dict, so nothing downstream can change the policy."""
    return MappingProxyType(dict(items))
