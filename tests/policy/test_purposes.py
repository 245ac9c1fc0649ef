"""Which role sees which fields for which purpose comes from the policy file (§10)."""

from __future__ import annotations

import pytest

from tillit import policy
from tillit.policy import purposes


@pytest.mark.parametrize(
    ("_case", "role", "purpose", "sees", "does_not_see"),
    [
        (
            "marketing works on direct marketing",
            "marketing",
            "direct_marketing",
            {"name", "email", "phone"},
            {"street", "summary"},
        ),
        ("marketing sees no correspondence", "marketing", "direct_marketing", set(), {"summary", "subject"}),
        ("marketing statistics are technical only", "marketing", "statistics", set(), {"name", "email"}),
        (
            "support sees correspondence for customer care",
            "customer_support",
            "customer_care",
            {"name", "summary", "started_at"},
            set(),
        ),
        ("sales sees the business address in a dialogue", "sales", "sales_dialogue", {"street", "city"}, set()),
        ("administrator sees no personal data", "administrator", "customer_care", set(), {"name", "email"}),
        ("unknown role sees nothing", "intruder", "customer_care", set(), {"name"}),
    ],
)
def test_visible_fields(_case, role, purpose, sees, does_not_see):
    current = policy.current()
    visible = set()
    for model in ("people.Person", "people.Organization", "people.Interaction", "people.CustomerRelationship"):
        visible |= purposes.visible_fields(current, role, purpose, model)
    assert sees <= visible
    assert not (does_not_see & visible)


def test_a_role_default_purpose_is_its_first_in_policy_order():
    current = policy.current()
    assert purposes.purposes_for_role(current, "sales") == ("sales_dialogue", "direct_marketing", "customer_care")
    assert purposes.purposes_for_role(current, "administrator") == ()


@pytest.mark.parametrize(
    ("_case", "objected_to_marketing", "objected_purposes", "stopped", "still_open"),
    [
        ("no objection stops nothing", False, frozenset(), set(), {"direct_marketing", "sales_dialogue"}),
        (
            "an objection to direct marketing stops every marketing purpose",
            True,
            frozenset(),
            {"direct_marketing", "newsletter", "personalisation"},
            {"sales_dialogue", "customer_care", "statistics", "data_subject_rights"},
        ),
        (
            "an objection to one purpose stops that purpose",
            False,
            frozenset({"personalisation"}),
            {"personalisation"},
            {"direct_marketing", "newsletter", "statistics"},
        ),
        (
            "an objection to a purpose that is not objectable stops nothing",
            False,
            frozenset({"customer_care", "data_subject_rights"}),
            set(),
            {"customer_care", "data_subject_rights"},
        ),
        (
            "an objection to the sales dialogue stops it (art. 21(1))",
            False,
            frozenset({"sales_dialogue"}),
            {"sales_dialogue"},
            {"customer_care"},
        ),
    ],
)
def test_what_an_objection_stops(_case, objected_to_marketing, objected_purposes, stopped, still_open):
    result = purposes.stopped_by_objection(
        policy.current(), objected_to_marketing=objected_to_marketing, objected_purposes=objected_purposes
    )
    assert stopped <= result
    assert not (still_open & result)
    # The rule reads the policy's own marks, not a list of names.
    marketing = {key for key, p in policy.current().purposes.items() if p.marketing}
    if objected_to_marketing:
        assert marketing <= result


@pytest.mark.parametrize(
    ("role", "may"),
    [
        ("customer_support", True),  # logs calls (correspondence)
        ("sales", True),  # logs calls, calls from the list
        ("marketing", True),  # calls from the list, works with choices
        ("privacy_officer", True),  # answers rights requests, sees choices
        ("administrator", False),  # sees no personal data
        ("intruder", False),
        (None, False),
    ],
)
def test_who_may_take_an_objection_by_phone(role, may):
    assert purposes.may_take_objection(policy.current(), role) is may
