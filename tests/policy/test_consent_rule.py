"""Table tests for eligibility (policy §5, §7, §8, §14; GDPR art. 21; mfl. §15)."""

from __future__ import annotations

import pytest

from tillit import policy
from tillit.policy.consent import ContactFacts, is_role_address, may_contact

ALL = frozenset(policy.current().purposes)


def facts(**kwargs) -> ContactFacts:  # type: ignore[no-untyped-def]
    return ContactFacts(**({"email": "kari.nordmann@example.com", "informed_purposes": ALL} | kwargs))


@pytest.mark.parametrize(
    ("_case", "facts", "purpose", "channel", "allowed", "basis", "reason"),
    [
        ("email marketing needs consent", facts(), "direct_marketing", "email", False, None, "no_consent"),
        (
            "consent given",
            facts(consents={("direct_marketing", "email"): "given"}),
            "direct_marketing",
            "email",
            True,
            "consent",
            "consent",
        ),
        (
            "consent withdrawn",
            facts(consents={("direct_marketing", "email"): "withdrawn"}),
            "direct_marketing",
            "email",
            False,
            None,
            "withdrawn",
        ),
        (
            "existing customer, every condition",
            facts(is_customer=True, address_from_sale=True, optout_offered_at_collection=True),
            "direct_marketing",
            "email",
            True,
            "legitimate_interest",
            "existing_customer",
        ),
        (
            "existing customer, address not from a sale",
            facts(is_customer=True, optout_offered_at_collection=True),
            "direct_marketing",
            "email",
            False,
            None,
            "no_consent",
        ),
        (
            "existing customer, no opt-out at collection",
            facts(is_customer=True, address_from_sale=True),
            "direct_marketing",
            "email",
            False,
            None,
            "no_consent",
        ),
        (
            "former customer",
            facts(address_from_sale=True, optout_offered_at_collection=True),
            "direct_marketing",
            "email",
            False,
            None,
            "no_consent",
        ),
        (
            "the exception never covers newsletters",
            facts(is_customer=True, address_from_sale=True, optout_offered_at_collection=True),
            "newsletter",
            "email",
            False,
            None,
            "no_consent",
        ),
        (
            "a role address is outside mfl. §15",
            facts(email="post@example.com"),
            "direct_marketing",
            "email",
            True,
            "legitimate_interest",
            "role_address",
        ),
        (
            "phone marketing on legitimate interest",
            facts(),
            "direct_marketing",
            "phone",
            True,
            "legitimate_interest",
            "legitimate_interest",
        ),
        (
            "objection stops phone",
            facts(objected_to_marketing=True),
            "direct_marketing",
            "phone",
            False,
            None,
            "objected",
        ),
        (
            "objection stops email despite consent",
            facts(objected_to_marketing=True, consents={("direct_marketing", "email"): "given"}),
            "direct_marketing",
            "email",
            False,
            None,
            "objected",
        ),
        (
            "objection stops profiling",
            facts(objected_to_marketing=True, consents={("personalisation", "web"): "given"}),
            "personalisation",
            "web",
            False,
            None,
            "objected",
        ),
        (
            "objection leaves customer care",
            facts(objected_to_marketing=True, is_customer=True),
            "customer_care",
            "email",
            True,
            "contract",
            "contract",
        ),
        (
            "suppressed",
            facts(suppressed=True, consents={("newsletter", "email"): "given"}),
            "newsletter",
            "email",
            False,
            None,
            "suppressed",
        ),
        (
            "GPC objection to personalisation",
            facts(objected_purposes=frozenset({"personalisation"}), consents={("personalisation", "web"): "given"}),
            "personalisation",
            "web",
            False,
            None,
            "objected",
        ),
        ("statistics need cookie consent", facts(), "statistics", "web", False, None, "no_consent"),
        (
            "not informed of the purpose",
            facts(informed_purposes=frozenset({"newsletter"}), consents={("direct_marketing", "email"): "given"}),
            "direct_marketing",
            "email",
            False,
            None,
            "not_informed",
        ),
        ("a channel the purpose does not use", facts(), "newsletter", "phone", False, None, "channel_not_used"),
        ("customer care for a non-customer", facts(), "customer_care", "phone", False, None, "not_customer"),
        (
            "rights requests always",
            facts(informed_purposes=frozenset(), suppressed=True),
            "data_subject_rights",
            "email",
            True,
            "legal_obligation",
            "legal_obligation",
        ),
        (
            "sales dialogue after an objection to it",
            facts(consents={("sales_dialogue", "phone"): "objected"}),
            "sales_dialogue",
            "phone",
            False,
            None,
            "objected",
        ),
    ],
)
def test_may_contact(_case, facts, purpose, channel, allowed, basis, reason):
    answer = may_contact(policy.current(), facts, purpose=purpose, channel=channel)
    assert (answer.allowed, answer.basis, answer.reason) == (allowed, basis, reason)


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("post@firma.example", True),
        ("Info@firma.example", True),
        ("salg@firma.example", True),
        ("ola.nordmann@firma.example", False),
        ("ola@firma.example", False),
        ("postmaster.ola@firma.example", False),
    ],
)
def test_role_addresses(email, role):
    assert is_role_address(email) is role
