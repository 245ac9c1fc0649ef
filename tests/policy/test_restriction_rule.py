"""The restriction rule (GDPR art. 18): who may still read a restricted person, which grounds
keep the data past the retention deadline, and that a restriction stops every contact and
every disclosure but the answer to the person's own request."""

from __future__ import annotations

import dataclasses

import pytest

from tillit import policy
from tillit.policy import restriction as rule
from tillit.policy.consent import ContactFacts, may_contact
from tillit.policy.disclosure import DisclosureFacts, may_disclose


@pytest.mark.parametrize(
    ("role", "purpose", "allowed"),
    [
        ("privacy_officer", "data_subject_rights", True),
        ("privacy_officer", "direct_marketing", True),  # the role of [restriction] readers
        ("sales", "sales_dialogue", False),
        ("marketing", "direct_marketing", False),
        ("customer_support", "customer_care", False),
        (None, "data_subject_rights", True),  # an automatic process answering the person
        (None, "newsletter", False),
    ],
)
def test_who_may_read_a_restricted_person(role, purpose, allowed):
    assert rule.may_read_restricted(policy.current(), role, purpose) is allowed


def test_a_policy_without_readers_lets_only_its_purposes_read():
    bare = dataclasses.replace(
        policy.current(), restriction=dataclasses.replace(policy.current().restriction, readers=())
    )
    assert not rule.may_read_restricted(bare, "privacy_officer", "direct_marketing")
    assert rule.may_read_restricted(bare, "privacy_officer", "data_subject_rights")


@pytest.mark.parametrize(
    ("grounds", "holds"),
    [
        ("accuracy_contested", False),
        ("unlawful_processing", True),
        ("legal_claims", True),
        ("objection_pending", False),
    ],
)
def test_only_grounds_b_and_c_keep_the_data_past_the_deadline(grounds, holds):
    assert rule.holds_data(grounds) is holds
    assert rule.ARTICLE[grounds].startswith("18(1)(")


def test_a_restriction_stops_every_contact_but_a_legal_obligation():
    current = policy.current()
    informed = frozenset(current.purposes)
    facts = ContactFacts(
        email="kari@example.com",
        consents={("newsletter", "email"): "given", ("direct_marketing", "email"): "given"},
        is_customer=True,
        informed_purposes=informed,
        restricted=True,
    )
    for purpose, spec in current.purposes.items():
        for channel, basis in spec.bases.items():
            decision = may_contact(current, facts, purpose=purpose, channel=channel)
            if basis == "legal_obligation":
                assert decision.allowed, (purpose, channel)
            else:
                assert (decision.allowed, decision.reason) == (False, "restricted"), (purpose, channel)
    free = dataclasses.replace(facts, restricted=False)
    assert may_contact(current, free, purpose="newsletter", channel="email").allowed


def test_a_restricted_person_is_never_disclosed():
    facts = DisclosureFacts(partner_active=True, in_open_dialogue=True, informed=True, restricted=True)
    decision = may_disclose(policy.current(), facts, ["name", "email"])
    assert (decision.allowed, decision.reason) == (False, "restricted")
    assert may_disclose(policy.current(), dataclasses.replace(facts, restricted=False), ["name"]).allowed
