"""May we email, call or profile this person for a purpose now? (Policy §5, §7, §8, §11, §14;
GDPR art. 6, 7, 21; the Norwegian Marketing Control Act (markedsføringsloven) §15.)

One function, ``may_contact``, answers for every send, call list and disclosure:

- the purpose must be one the person was told about (§14: the notice version they were given);
- the suppression list and an objection to direct marketing (art. 21(2)-(3)) are absolute for
  every purpose the policy marks ``marketing`` (email, phone and profiling), and they stop
  every other contact by email or phone too, except an answer to a request the person made
  after them (an open dialogue they opened themselves: "call me back" is not marketing).
  Purposes resting on a contract or a legal obligation are not stopped by them (art. 21
  covers processing on legitimate interest); an objection to a single purpose (e.g. through
  Global Privacy Control) stops that purpose;
- a purpose that ``requires = "open_dialogue"`` (§7 "create and maintain a sales dialogue")
  reaches only people in an open dialogue of a kind that serves it: a request they sent us, or
  one staff opened; everyone else only under ``direct_marketing`` and its own rule;
- a person whose processing is restricted (GDPR art. 18) is contacted for nothing but a legal
  obligation (answering their own requests);
- a marketing call to a number reserved in the Reservasjonsregisteret is refused unless the
  person asked for such calls or is an existing customer (markedsføringsloven §13,
  ``reservation_allows``); when a call may be made is ``tillit.policy.telemarketing``;
- then the purpose's legal basis for the channel decides:
  * consent: the latest ledger event for the purpose and channel must be "given", and not
    lapsed: a consent lasts the policy's months (``[consent_lifetime]``) from the later of its
    giving (or renewal) and the person's last engagement (``consent_lapsed``). For email
    marketing the policy may allow the existing-customer exception (mfl. §15(3)): only by
    email, only to a current customer, only for products similar to (in the same product
    category as) what they bought in an order that offered them a free and simple way to
    refuse marketing when their address was collected, and only while they have not refused
    (a withdrawal or objection afterwards ends it). The answer names the order. A role address
    such as post@ is outside §15, which covers natural persons: marketing to it rests on
    legitimate interest;
  * legitimate interest: allowed unless the person withdrew or objected for the purpose;
  * contract: only while the person is a customer;
  * legal obligation: always.

Pure: the facts come in as an argument; no database, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from tillit.policy.schema import Policy

# Local parts of addresses that reach a business function, not a named person (mfl. §15 covers
# only natural persons). Unknown patterns are treated as personal: the safe default.
ROLE_LOCAL_PARTS: Final = frozenset(
    {
        "post",
        "postmottak",
        "firmapost",
        "info",
        "kontakt",
        "contact",
        "mail",
        "office",
        "kontor",
        "hello",
        "hei",
        "salg",
        "sales",
        "order",
        "ordre",
        "bestilling",
        "faktura",
        "invoice",
        "billing",
        "support",
        "kundeservice",
        "service",
        "kundtjanst",
        "admin",
        "reception",
        "resepsjon",
        "sekretariat",
    }
)


# The channels on which we contact a person (the web channel is profiling, not contact).
CONTACT_CHANNELS: Final = frozenset({"email", "phone"})
EXISTING_CUSTOMER: Final = "existing_customer"


@dataclass(frozen=True)
class OpenDialogue:
    """An open dialogue with the person: its kind (``[partners] dialogues``), when it opened,
    and when the person last asked us something in it (None: staff opened it, no request)."""

    kind: str
    opened_at: dt.datetime
    requested_at: dt.datetime | None = None


@dataclass(frozen=True)
class Purchase:
    """A product (a key of the policy's ``[products]``) the person bought in an order, whether
    that order offered them a free and simple way to refuse marketing when their address was
    collected (mfl. §15(3)), and whether they refused then."""

    order: str
    product: str
    at: dt.datetime
    opt_out_offered: bool
    refused_at_collection: bool = False
    id: int = 0


@dataclass(frozen=True)
class ContactFacts:
    """What the rule needs to know about one person."""

    email: str | None = None
    # The latest ledger action per (purpose, channel): "given", "withdrawn" or "objected".
    consents: dict[tuple[str, str], str] = field(default_factory=dict)
    objected_to_marketing: bool = False
    objected_purposes: frozenset[str] = frozenset()
    suppressed: bool = False
    # Since when the objection to direct marketing or the suppression holds (the later one).
    stopped_at: dt.datetime | None = None
    is_customer: bool = False
    purchases: tuple[Purchase, ...] = ()
    dialogues: tuple[OpenDialogue, ...] = ()
    informed_purposes: frozenset[str] = frozenset()
    # The processing of the person's data is restricted (GDPR art. 18): stored, not used.
    restricted: bool = False
    # Consent lifetime (§5): when each (purpose, channel)'s latest ledger entry was made, and
    # the person's latest engagement (``is_engagement``).
    consent_given_at: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    engaged_at: dt.datetime | None = None
    # The person's number is reserved against telemarketing in the Reservasjonsregisteret
    # extract in force (markedsføringsloven §12).
    phone_reserved: bool = False


@dataclass(frozen=True)
class Eligibility:
    """The answer: ``allowed``, the ``basis`` it rests on (recorded with every send), and the
    reason in a short stable code (``not_informed``, ``suppressed``, ``objected``, ...). Under
    the existing-customer exception, ``order`` names the order it rests on."""

    allowed: bool
    basis: str | None
    reason: str
    order: str = ""

    @property
    def recorded(self) -> str:
        """What a send records as its basis: the reason, with the order for the exception
        (``existing_customer:order=10042``)."""
        return f"{self.reason}:order={self.order}" if self.order else self.reason


def is_role_address(email: str) -> bool:
    """Whether ``email`` reaches a business function (post@, salg@) rather than a named person."""
    local = email.partition("@")[0].lower()
    return local in ROLE_LOCAL_PARTS


def dialogue_kinds(policy: Policy, purpose: str) -> frozenset[str]:
    """The kinds of dialogue that serve ``purpose`` (``[partners] dialogues``)."""
    return frozenset(kind for kind, served in policy.partners.dialogues.items() if served == purpose)


def similar_products(policy: Policy, marketed: Iterable[str]) -> frozenset[str]:
    """The products similar to what a campaign markets (product or category keys of the
    policy): every product in the same category (mfl. §15(3) "similar products")."""
    wanted = set(marketed)
    categories = {policy.products[k].category for k in wanted if k in policy.products}
    categories |= {k for k in wanted if k in policy.product_categories}
    return frozenset(key for key, product in policy.products.items() if product.category in categories)


def answers_own_request(facts: ContactFacts, kinds: frozenset[str]) -> bool:
    """Whether contact about a dialogue of ``kinds`` answers a request the person made after
    their objection or suppression (an open dialogue with a request of theirs since then)."""
    stopped_at = facts.stopped_at
    return stopped_at is not None and any(
        d.requested_at is not None and d.kind in kinds and d.requested_at > stopped_at for d in facts.dialogues
    )


def existing_customer_order(policy: Policy, facts: ContactFacts, products: Iterable[str]) -> Purchase | None:
    """The order the existing-customer exception rests on for a campaign marketing
    ``products``: the latest purchase of a similar product whose order offered the opt-out."""
    if any(p.refused_at_collection for p in facts.purchases):
        return None
    similar = similar_products(policy, products)
    offers = [p for p in facts.purchases if p.opt_out_offered and p.product in similar]
    return max(offers, key=lambda p: (p.at, p.id), default=None)


def reservation_allows(
    policy: Policy, facts: ContactFacts, *, purpose: str, channel: str, products: Iterable[str] = ()
) -> bool:
    """The Reservasjonsregisteret (markedsføringsloven §§12-13; policy ``[telemarketing]``): a
    marketing call to a reserved number is refused, unless the person asked for such calls (a
    consent to the purpose by phone in the ledger, §13(2)) or is an existing customer (a current
    customer relationship, §13(3)), and then, when the call names the products it markets, only
    with a purchase of a similar one. Anything but a marketing purpose by phone is untouched."""
    if channel != "phone" or not policy.purposes[purpose].marketing or not facts.phone_reserved:
        return True
    if facts.consents.get((purpose, channel)) == "given":
        return True
    if not facts.is_customer:
        return False
    marketed = tuple(products)
    if not marketed:
        return True
    similar = similar_products(policy, marketed)
    return any(p.product in similar for p in facts.purchases)


def may_contact(
    policy: Policy,
    facts: ContactFacts,
    *,
    purpose: str,
    channel: str,
    products: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> Eligibility:
    """Whether the person may be contacted (or profiled, on the web channel) for ``purpose``
    on ``channel`` now, and on which basis. ``products``: the product or category keys the
    contact markets (a campaign's); the existing-customer exception needs them. ``now``: the
    moment judged, for the consent lifetime (``consent_lapsed``; without it the lifetime is not
    judged, which only the verifier's older checks rely on: it has a check of its own)."""
    if purpose not in policy.purposes:
        raise KeyError(f"unknown purpose {purpose!r}")
    rule = policy.purposes[purpose]
    basis = rule.bases.get(channel)
    if basis is None:
        return Eligibility(False, None, "channel_not_used")
    if purpose not in facts.informed_purposes and basis != "legal_obligation":
        return Eligibility(False, None, "not_informed")
    if basis == "legal_obligation":
        return Eligibility(True, basis, "legal_obligation")
    if facts.restricted:
        return Eligibility(False, None, "restricted")
    stopped = facts.suppressed or facts.objected_to_marketing
    stop = "suppressed" if facts.suppressed else "objected"
    if rule.marketing and stopped:
        return Eligibility(False, None, stop)
    if rule.objectable and purpose in facts.objected_purposes:
        return Eligibility(False, None, "objected")
    kinds = dialogue_kinds(policy, purpose)
    if rule.requires == "open_dialogue" and not any(d.kind in kinds for d in facts.dialogues):
        return Eligibility(False, None, "no_open_dialogue")
    if stopped and channel in CONTACT_CHANNELS and basis != "contract" and not answers_own_request(facts, kinds):
        return Eligibility(False, None, stop)
    if not reservation_allows(policy, facts, purpose=purpose, channel=channel, products=products):
        return Eligibility(False, None, "reserved")
    latest = facts.consents.get((purpose, channel))
    if basis == "consent":
        lapsed = latest == "given" and now is not None and consent_lapsed(policy, facts, purpose, channel, now)
        if latest == "given" and not lapsed:
            return Eligibility(True, "consent", "consent")
        if latest in ("withdrawn", "objected"):
            return Eligibility(False, None, "withdrawn")
        if channel == "email" and facts.email and is_role_address(facts.email):
            return Eligibility(True, "legitimate_interest", "role_address")
        if channel == "email" and EXISTING_CUSTOMER in rule.exceptions.get(channel, ()) and facts.is_customer:
            order = existing_customer_order(policy, facts, products)
            if order is not None:
                return Eligibility(True, "legitimate_interest", EXISTING_CUSTOMER, order=order.order)
        return Eligibility(False, None, CONSENT_EXPIRED if lapsed else "no_consent")
    if basis == "legitimate_interest":
        if latest in ("withdrawn", "objected"):
            return Eligibility(False, None, "objected")
        return Eligibility(True, basis, "legitimate_interest")
    if basis == "contract":
        if facts.is_customer:
            return Eligibility(True, basis, "contract")
        return Eligibility(False, None, "not_customer")
    return Eligibility(False, None, "unknown_basis")


# Consent has a lifetime (§5; GDPR art. 7; mfl. §15; policy ``[consent_lifetime]``).
CONSENT_EXPIRED: Final = "consent_expired"


def consent_cutoff(policy: Policy, purpose: str, now: dt.datetime) -> dt.datetime | None:
    """A consent for ``purpose`` whose latest giving (or renewal) and the person's latest
    engagement both happened at or before this moment has lapsed at ``now``: ``now`` minus the
    purpose's lifetime in months, in the controller's time zone (a day the month lacks becomes
    its last: 29 February 2028 - 24 months is 28 February 2026). None: no lifetime."""
    from tillit.policy.retention import subtract_months

    months = policy.consent_lifetime.months.get(purpose)
    return None if months is None else subtract_months(now, months)


def is_engagement(policy: Policy, *, kind: str, direction: str, reached: bool) -> bool:
    """Whether an interaction is the person's own engagement with us, which keeps their
    consents alive: an inbound form, download, email, call, chat, order or event attendance,
    or an outbound call they answered (the policy's lists). Our own emails and campaign sends
    never count, and opens or clicks are not recorded at all."""
    rule = policy.consent_lifetime
    if direction == "inbound":
        return kind in rule.engagement_inbound_kinds
    if direction == "outbound":
        return reached and kind in rule.engagement_answered_outbound_kinds
    return False


def consent_lapsed(policy: Policy, facts: ContactFacts, purpose: str, channel: str, now: dt.datetime) -> bool:
    """Whether the consent for ``purpose`` on ``channel`` has lapsed at ``now``: neither it
    was given (or renewed) nor did the person engage with us after ``consent_cutoff``. A
    consent whose date is unknown counts as lapsed (the safe reading)."""
    cutoff = consent_cutoff(policy, purpose, now)
    if cutoff is None:
        return False
    given_at = facts.consent_given_at.get((purpose, channel))
    if given_at is None:
        return True
    last = max(given_at, facts.engaged_at) if facts.engaged_at is not None else given_at
    return last <= cutoff


def renewal_due(policy: Policy, facts: ContactFacts, purpose: str, channel: str, now: dt.datetime) -> bool:
    """Whether the renewal email may ask for this consent now: it still counts, and it lapses
    within the policy's ``renewal_days_before`` days. Never after it lapsed: asking for consent
    by email is itself marketing, lawful only while the consent still counts."""
    if facts.consents.get((purpose, channel)) != "given" or consent_cutoff(policy, purpose, now) is None:
        return False
    soon = now + dt.timedelta(days=policy.consent_lifetime.renewal_days_before)
    return not consent_lapsed(policy, facts, purpose, channel, now) and consent_lapsed(
        policy, facts, purpose, channel, soon
    )
