"""May we email, call or profile this person for a purpose now? (Policy §5, §7, §8, §14;
GDPR art. 6, 7, 21; the Norwegian Marketing Control Act (markedsføringsloven) §15.)

One function, ``may_contact``, answers for every send, call list and disclosure:

- the purpose must be one the person was told about (§14: the notice version they were given);
- the suppression list and an objection to direct marketing (art. 21(2)-(3)) are absolute:
  they stop every purpose the policy marks ``marketing`` (email, phone and profiling) at once;
  an objection to a single purpose (e.g. through Global Privacy Control) stops that purpose;
- then the purpose's legal basis for the channel decides:
  * consent: the latest ledger event for the purpose and channel must be "given". For email
    marketing the policy may allow the existing-customer exception (mfl. §15(3)): a current
    customer, an address collected in a sale, an opt-out offered at collection (every message
    offers one too: the sending code adds it). A role address such as post@ is outside §15,
    which covers natural persons: marketing to it rests on legitimate interest;
  * legitimate interest: allowed unless the person withdrew or objected for the purpose;
  * contract: only while the person is a customer;
  * legal obligation: always.

Pure: the facts come in as an argument; no database, no clock.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ContactFacts:
    """What the rule needs to know about one person."""

    email: str | None = None
    # The latest ledger action per (purpose, channel): "given", "withdrawn" or "objected".
    consents: dict[tuple[str, str], str] = field(default_factory=dict)
    objected_to_marketing: bool = False
    objected_purposes: frozenset[str] = frozenset()
    suppressed: bool = False
    is_customer: bool = False
    address_from_sale: bool = False
    optout_offered_at_collection: bool = False
    informed_purposes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Eligibility:
    """The answer: ``allowed``, the ``basis`` it rests on (recorded with every send), and the
    reason in a short stable code (``not_informed``, ``suppressed``, ``objected``, ...)."""

    allowed: bool
    basis: str | None
    reason: str


def is_role_address(email: str) -> bool:
    """Whether ``email`` reaches a business function (post@, salg@) rather than a named person."""
    local = email.partition("@")[0].lower()
    return local in ROLE_LOCAL_PARTS


def may_contact(policy: Policy, facts: ContactFacts, *, purpose: str, channel: str) -> Eligibility:
    """Whether the person may be contacted (or profiled, on the web channel) for ``purpose``
    on ``channel`` now, and on which basis."""
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
    if rule.marketing and (facts.suppressed or facts.objected_to_marketing):
        return Eligibility(False, None, "suppressed" if facts.suppressed else "objected")
    if rule.objectable and purpose in facts.objected_purposes:
        return Eligibility(False, None, "objected")
    latest = facts.consents.get((purpose, channel))
    if basis == "consent":
        if latest == "given":
            return Eligibility(True, "consent", "consent")
        if latest in ("withdrawn", "objected"):
            return Eligibility(False, None, "withdrawn")
        if channel == "email" and facts.email and is_role_address(facts.email):
            return Eligibility(True, "legitimate_interest", "role_address")
        if (
            "existing_customer" in rule.exceptions.get(channel, ())
            and facts.is_customer
            and facts.address_from_sale
            and facts.optout_offered_at_collection
        ):
            return Eligibility(True, "legitimate_interest", "existing_customer")
        return Eligibility(False, None, "no_consent")
    if basis == "legitimate_interest":
        if latest in ("withdrawn", "objected"):
            return Eligibility(False, None, "objected")
        return Eligibility(True, basis, "legitimate_interest")
    if basis == "contract":
        if facts.is_customer:
            return Eligibility(True, basis, "contract")
        return Eligibility(False, None, "not_customer")
    return Eligibility(False, None, "unknown_basis")
