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
