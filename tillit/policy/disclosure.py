"""What a partner may receive about a person, and when (policy §11; GDPR art. 6(1)(f), 21).

§11 of the published policy: "We do not sell your personal data to third parties. If there is
an ongoing sales or customer dialogue between you, us and any of our partners, we share
information such as name, email address, phone number and what business you work for. If we
have registered your information in connection with an event performed with an external party,
we may transfer the same categories ..., as well as any answers to additional form questions."

The policy file's ``[partners]`` section states it as data: ``requires`` (an open dialogue),
``categories`` (what may go), ``event_categories`` (what may also go for an event run with that
partner: the answers to that event's form), ``dialogues`` (the kinds of dialogue and the purpose
each serves), and ``sells_data = false``. This module decides; ``sharing.services.disclose`` is
the only code that acts on it, and ``tillit verify`` checks the disclosure ledger against it.

- A person may be disclosed only while an open dialogue with the partner includes them, only
  if they were told about the dialogue's purpose (§14), never if they objected (to disclosure
  to partners, to direct marketing, or to the dialogue's purpose: art. 21) and never if their
  address or number is on the suppression list.
- Only the policy's categories may go; the event categories only for an event run with that
  same partner, and only for people who answered that event's form.

Pure: the facts come in as arguments; no database, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from tillit.policy.schema import Policy

# The bases a disclosure rests on, as written to the disclosure ledger.
OPEN_DIALOGUE = "open_dialogue"
PARTNER_EVENT = "partner_event"
BASES = (OPEN_DIALOGUE, PARTNER_EVENT)


@dataclass(frozen=True)
class DisclosureFacts:
    """What the rule needs to know about one person, one partner and one moment."""

    partner_active: bool
    in_open_dialogue: bool  # an open dialogue with this partner includes the person now
    informed: bool  # the person was given a notice naming the dialogue's purpose (§14)
    objected_to_sharing: bool = False  # objected to disclosure to partners (e.g. Global Privacy Control)
    objected_to_marketing: bool = False  # objected to direct marketing (art. 21(2)-(3))
    objected_to_purpose: bool = False  # objected to the dialogue's purpose (art. 21(1))
    suppressed: bool = False  # the address or number is on the suppression list
    event_with_partner: bool = False  # the disclosure is for an event run with this partner
    answered_event_form: bool = False  # the person answered that event's form
    restricted: bool = False  # the processing of the person's data is restricted (GDPR art. 18)


@dataclass(frozen=True)
class DisclosureDecision:
    """``allowed``; the ``basis`` written to the ledger; ``reason`` a short stable code
    (``no_open_dialogue``, ``objected``, ``suppressed``, ...); ``categories`` what may go."""

    allowed: bool
    basis: str | None
    reason: str
    categories: tuple[str, ...] = ()


def allowed_categories(policy: Policy, *, partner_event: bool) -> tuple[str, ...]:
    """The categories a partner may receive (§11): the policy's ``categories``, plus its
    ``event_categories`` for an event run with that partner."""
    rules = policy.partners
    if policy.partners.sells_data:  # the loader refuses such a policy; a second lock on the door
        return ()
    if partner_event:
        return tuple(dict.fromkeys((*rules.categories, *rules.event_categories)))
    return tuple(rules.categories)


def forbidden_categories(policy: Policy, requested: Iterable[str], *, partner_event: bool) -> tuple[str, ...]:
    """The requested categories a partner may not receive, in the order asked (empty: all fine)."""
    allowed = set(allowed_categories(policy, partner_event=partner_event))
    return tuple(c for c in dict.fromkeys(requested) if c not in allowed)


def dialogue_purpose(policy: Policy, kind: str) -> str | None:
    """The purpose a kind of dialogue (``sales``, ``customer``) serves, or None if unknown."""
    return policy.partners.dialogues.get(kind)


def may_disclose(policy: Policy, facts: DisclosureFacts, requested: Iterable[str]) -> DisclosureDecision:
    """Whether the requested categories of one person may go to the partner now, and on which
    basis. The event categories go only to people who answered the event's form; for others
    they are left out (the rest may still go)."""
    wanted = tuple(dict.fromkeys(requested))
    if policy.partners.sells_data:
        return DisclosureDecision(False, None, "never_sold")
    forbidden = forbidden_categories(policy, wanted, partner_event=facts.event_with_partner)
    if forbidden:
        return DisclosureDecision(False, None, "category_not_allowed")
    if not facts.partner_active:
        return DisclosureDecision(False, None, "partner_ended")
    if policy.partners.requires == "open_dialogue" and not facts.in_open_dialogue:
        return DisclosureDecision(False, None, "no_open_dialogue")
    if not facts.informed:
        return DisclosureDecision(False, None, "not_informed")
    if facts.restricted:
        return DisclosureDecision(False, None, "restricted")
    if facts.suppressed:
        return DisclosureDecision(False, None, "suppressed")
    if facts.objected_to_sharing or facts.objected_to_marketing or facts.objected_to_purpose:
        return DisclosureDecision(False, None, "objected")
    event_only = set(policy.partners.event_categories) - set(policy.partners.categories)
    categories = tuple(c for c in wanted if c not in event_only or facts.answered_event_form)
    if not categories:
        return DisclosureDecision(False, None, "nothing_to_disclose")
    basis = PARTNER_EVENT if facts.event_with_partner else OPEN_DIALOGUE
    return DisclosureDecision(True, basis, "allowed", categories)


@dataclass(frozen=True)
class LedgerEntry:
    """One person's row of the disclosure ledger, with what was true when it was written; for
    checking the ledger against the policy afterwards (``tillit verify``)."""

    categories: tuple[str, ...]
    basis: str
    disclosed_at: dt.datetime
    dialogue_opened_at: dt.datetime | None
    dialogue_closed_at: dt.datetime | None
    event_with_partner: bool = False
    # None when the person is erased (membership and objections went with them).
    member_from: dt.datetime | None = None
    member_until: dt.datetime | None = None
    person_known: bool = False
    objected_before: bool = False


def ledger_problems(policy: Policy, entry: LedgerEntry) -> tuple[str, ...]:
    """What is wrong with a ledger entry by the policy: ``forbidden_field`` (a category the
    policy does not let partners have, or an event category outside a partner event) and
    ``forbidden_time`` (no open dialogue then, the person not in it, or after an objection).
    Empty when the entry is in order."""
    problems = []
    if entry.basis not in BASES or forbidden_categories(
        policy, entry.categories, partner_event=entry.event_with_partner and entry.basis == PARTNER_EVENT
    ):
        problems.append("forbidden_field")
    opened, closed, at = entry.dialogue_opened_at, entry.dialogue_closed_at, entry.disclosed_at
    is_open = opened is not None and opened <= at and (closed is None or at < closed)
    in_dialogue = not entry.person_known or (
        entry.member_from is not None
        and entry.member_from <= at
        and (entry.member_until is None or at < entry.member_until)
    )
    if not is_open or not in_dialogue or entry.objected_before:
        problems.append("forbidden_time")
    return tuple(problems)
