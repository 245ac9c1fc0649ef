"""Table tests for what partners may receive, and when (policy §11; GDPR art. 21)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from tillit import policy
from tillit.policy.disclosure import (
    OPEN_DIALOGUE,
    PARTNER_EVENT,
    DisclosureFacts,
    LedgerEntry,
    allowed_categories,
    dialogue_purpose,
    forbidden_categories,
    ledger_problems,
    may_disclose,
)

BASIC = ("name", "email", "phone", "organisation")


def facts(**kwargs) -> DisclosureFacts:  # type: ignore[no-untyped-def]
    return DisclosureFacts(**({"partner_active": True, "in_open_dialogue": True, "informed": True} | kwargs))


def test_the_policy_names_what_partners_may_receive():
    current = policy.current()
    assert allowed_categories(current, partner_event=False) == BASIC
    assert allowed_categories(current, partner_event=True) == (*BASIC, "form_answers")
    assert forbidden_categories(current, ["name", "position", "email", "technical"], partner_event=False) == (
        "position",
        "technical",
    )
    assert forbidden_categories(current, ["form_answers"], partner_event=False) == ("form_answers",)
    assert forbidden_categories(current, ["form_answers"], partner_event=True) == ()


def test_dialogue_kinds_serve_the_purposes_the_policy_names():
    current = policy.current()
    assert dialogue_purpose(current, "sales") == "sales_dialogue"
    assert dialogue_purpose(current, "customer") == "customer_care"
    assert dialogue_purpose(current, "marketing") is None


@pytest.mark.parametrize(
    ("_case", "facts", "requested", "allowed", "basis", "reason", "categories"),
    [
        ("an open dialogue", facts(), BASIC, True, OPEN_DIALOGUE, "allowed", BASIC),
        ("a field the policy does not allow", facts(), ("name", "position"), False, None, "category_not_allowed", ()),
        ("form answers outside an event", facts(), ("name", "form_answers"), False, None, "category_not_allowed", ()),
        ("no open dialogue", facts(in_open_dialogue=False), BASIC, False, None, "no_open_dialogue", ()),
        ("the partnership ended", facts(partner_active=False), BASIC, False, None, "partner_ended", ()),
        ("not told about the purpose (§14)", facts(informed=False), BASIC, False, None, "not_informed", ()),
        ("on the suppression list", facts(suppressed=True), BASIC, False, None, "suppressed", ()),
        ("objected to sharing (GPC)", facts(objected_to_sharing=True), BASIC, False, None, "objected", ()),
        ("objected to direct marketing", facts(objected_to_marketing=True), BASIC, False, None, "objected", ()),
        ("objected to the purpose", facts(objected_to_purpose=True), BASIC, False, None, "objected", ()),
        (
            "an event with the partner, form answered",
            facts(event_with_partner=True, answered_event_form=True),
            ("name", "form_answers"),
            True,
            PARTNER_EVENT,
            "allowed",
            ("name", "form_answers"),
        ),
        (
            "an event with the partner, no form answered: the answers are left out",
            facts(event_with_partner=True),
            ("name", "form_answers"),
            True,
            PARTNER_EVENT,
            "allowed",
            ("name",),
        ),
        (
            "only form answers, none given",
            facts(event_with_partner=True),
            ("form_answers",),
            False,
            None,
            "nothing_to_disclose",
            (),
        ),
        (
            "an event does not lift the dialogue requirement",
            facts(event_with_partner=True, answered_event_form=True, in_open_dialogue=False),
            ("name",),
            False,
            None,
            "no_open_dialogue",
            (),
        ),
    ],
)
def test_may_disclose(_case, facts, requested, allowed, basis, reason, categories):
    decision = may_disclose(policy.current(), facts, requested)
    assert (decision.allowed, decision.basis, decision.reason, decision.categories) == (
        allowed,
        basis,
        reason,
        categories,
    )


def test_a_policy_that_sells_data_discloses_nothing():
    current = policy.current()
    selling = dataclasses.replace(current, partners=dataclasses.replace(current.partners, sells_data=True))
    assert allowed_categories(selling, partner_event=False) == ()
    assert may_disclose(selling, facts(), ("name",)).reason == "never_sold"


T = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def entry(**kwargs) -> LedgerEntry:  # type: ignore[no-untyped-def]
    base = {
        "categories": ("name", "email"),
        "basis": OPEN_DIALOGUE,
        "disclosed_at": T,
        "dialogue_opened_at": T - HOUR,
        "dialogue_closed_at": None,
        "member_from": T - HOUR,
        "person_known": True,
    }
    return LedgerEntry(**(base | kwargs))


@pytest.mark.parametrize(
    ("_case", "entry", "problems"),
    [
        ("in order", entry(), ()),
        ("a field outside the policy", entry(categories=("name", "position")), ("forbidden_field",)),
        ("form answers without an event", entry(categories=("form_answers",)), ("forbidden_field",)),
        (
            "form answers for a partner event",
            entry(categories=("form_answers",), basis=PARTNER_EVENT, event_with_partner=True),
            (),
        ),
        ("an unknown basis", entry(basis="sold"), ("forbidden_field",)),
        ("before the dialogue opened", entry(dialogue_opened_at=T + HOUR), ("forbidden_time",)),
        ("exactly when it closed", entry(dialogue_closed_at=T), ("forbidden_time",)),
        ("just before it closed", entry(dialogue_closed_at=T + dt.timedelta(microseconds=1)), ()),
        ("the person was not in it yet", entry(member_from=T + HOUR), ("forbidden_time",)),
        ("the person had left it", entry(member_until=T), ("forbidden_time",)),
        ("never a member", entry(member_from=None), ("forbidden_time",)),
        ("after an objection", entry(objected_before=True), ("forbidden_time",)),
        ("an erased person: membership no longer known", entry(person_known=False, member_from=None), ()),
        (
            "both wrong",
            entry(categories=("technical",), dialogue_opened_at=None),
            ("forbidden_field", "forbidden_time"),
        ),
    ],
)
def test_ledger_problems(_case, entry, problems):
    assert ledger_problems(policy.current(), entry) == problems
