"""Table tests for eligibility (policy §5, §7, §8, §14; GDPR art. 21; mfl. §15)."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit import policy
from tillit.policy.consent import ContactFacts, OpenDialogue, Purchase, is_role_address, may_contact

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
            facts(
                consents={("sales_dialogue", "phone"): "objected"},
                dialogues=(OpenDialogue(kind="sales", opened_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)),),
            ),
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


T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
STAFF_OPENED = OpenDialogue(kind="sales", opened_at=T0)
ASKED_EARLY = OpenDialogue(kind="sales", opened_at=T0, requested_at=T0)
ASKED_AGAIN = OpenDialogue(kind="sales", opened_at=T0, requested_at=T0 + dt.timedelta(days=3))
STOPPED = T0 + dt.timedelta(days=1)  # an objection or a suppression between the two requests


@pytest.mark.parametrize(
    ("_case", "facts", "purpose", "channel", "allowed", "reason"),
    [
        # A sales dialogue is a real thing (§7): only people in an open one.
        ("no open dialogue: not on the sales call list", facts(), "sales_dialogue", "phone", False, "no_open_dialogue"),
        ("no open dialogue: no sales email either", facts(), "sales_dialogue", "email", False, "no_open_dialogue"),
        (
            "staff opened a dialogue",
            facts(dialogues=(STAFF_OPENED,)),
            "sales_dialogue",
            "phone",
            True,
            "legitimate_interest",
        ),
        (
            "the person asked us something",
            facts(dialogues=(ASKED_EARLY,)),
            "sales_dialogue",
            "phone",
            True,
            "legitimate_interest",
        ),
        (
            "a customer dialogue is not a sales dialogue",
            facts(dialogues=(OpenDialogue(kind="customer", opened_at=T0),)),
            "sales_dialogue",
            "phone",
            False,
            "no_open_dialogue",
        ),
        # Everyone else only under direct marketing and its own rule.
        (
            "direct marketing by phone needs no dialogue",
            facts(),
            "direct_marketing",
            "phone",
            True,
            "legitimate_interest",
        ),
        # An objection to direct marketing and the suppression list stop every call list...
        (
            "objection: off the sales call list (staff-opened dialogue)",
            facts(dialogues=(STAFF_OPENED,), objected_to_marketing=True, stopped_at=STOPPED),
            "sales_dialogue",
            "phone",
            False,
            "objected",
        ),
        (
            "objection after the person's request: off the list too",
            facts(dialogues=(ASKED_EARLY,), objected_to_marketing=True, stopped_at=STOPPED),
            "sales_dialogue",
            "phone",
            False,
            "objected",
        ),
        (
            "suppressed: off the sales call list",
            facts(dialogues=(STAFF_OPENED,), suppressed=True, stopped_at=STOPPED),
            "sales_dialogue",
            "phone",
            False,
            "suppressed",
        ),
        (
            "suppressed: no sales email",
            facts(dialogues=(ASKED_EARLY,), suppressed=True, stopped_at=STOPPED),
            "sales_dialogue",
            "email",
            False,
            "suppressed",
        ),
        (
            "objection: off the direct marketing call list",
            facts(objected_to_marketing=True, stopped_at=STOPPED),
            "direct_marketing",
            "phone",
            False,
            "objected",
        ),
        (
            "suppressed: off the direct marketing call list",
            facts(suppressed=True, stopped_at=STOPPED),
            "direct_marketing",
            "phone",
            False,
            "suppressed",
        ),
        # ...except an answer to a request the person made after it.
        (
            "a request after the objection may be answered",
            facts(dialogues=(ASKED_AGAIN,), objected_to_marketing=True, stopped_at=STOPPED),
            "sales_dialogue",
            "phone",
            True,
            "legitimate_interest",
        ),
        (
            "a request after the suppression may be answered by email",
            facts(dialogues=(ASKED_AGAIN,), suppressed=True, stopped_at=STOPPED),
            "sales_dialogue",
            "email",
            True,
            "legitimate_interest",
        ),
        (
            "a request never makes direct marketing possible again",
            facts(dialogues=(ASKED_AGAIN,), objected_to_marketing=True, stopped_at=STOPPED),
            "direct_marketing",
            "phone",
            False,
            "objected",
        ),
        (
            "customer care rests on the contract, not on legitimate interest",
            facts(objected_to_marketing=True, suppressed=True, stopped_at=STOPPED, is_customer=True),
            "customer_care",
            "phone",
            True,
            "contract",
        ),
    ],
)
def test_dialogue_and_objection(_case, facts, purpose, channel, allowed, reason):
    answer = may_contact(policy.current(), facts, purpose=purpose, channel=channel)
    assert (answer.allowed, answer.reason) == (allowed, reason)


def bought(
    product: str, *, order: str = "10042", offered: bool = True, refused: bool = False, days: int = 0
) -> Purchase:
    return Purchase(
        order=order,
        product=product,
        at=T0 + dt.timedelta(days=days),
        opt_out_offered=offered,
        refused_at_collection=refused,
        id=days + 1,
    )


CUSTOMER = {"is_customer": True}


@pytest.mark.parametrize(
    ("_case", "facts", "products", "channel", "allowed", "order"),
    [
        (
            "a similar product is allowed",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            ["backup"],
            "email",
            True,
            "10042",
        ),
        (
            "the same product is allowed",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            ["cloud"],
            "email",
            True,
            "10042",
        ),
        (
            "a product category with what they bought",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            ["infrastructure"],
            "email",
            True,
            "10042",
        ),
        (
            "an unrelated product is refused",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            ["payroll"],
            "email",
            False,
            "",
        ),
        (
            "a campaign that names no product is refused",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            [],
            "email",
            False,
            "",
        ),
        (
            "no opt-out offered is refused",
            facts(**CUSTOMER, purchases=(bought("cloud", offered=False),)),
            ["cloud"],
            "email",
            False,
            "",
        ),
        (
            "refused at collection is refused",
            facts(**CUSTOMER, purchases=(bought("cloud", refused=True),)),
            ["cloud"],
            "email",
            False,
            "",
        ),
        (
            "a refusal afterwards is refused",
            facts(**CUSTOMER, purchases=(bought("cloud"),), consents={("direct_marketing", "email"): "withdrawn"}),
            ["cloud"],
            "email",
            False,
            "",
        ),
        (
            "an objection afterwards is refused",
            facts(**CUSTOMER, purchases=(bought("cloud"),), objected_to_marketing=True, stopped_at=T0),
            ["cloud"],
            "email",
            False,
            "",
        ),
        ("a former customer is refused", facts(purchases=(bought("cloud"),)), ["cloud"], "email", False, ""),
        (
            "only by email: never by phone",
            facts(**CUSTOMER, purchases=(bought("cloud"),)),
            ["cloud"],
            "phone",
            True,
            "",
        ),
        (
            "the latest similar order is named",
            facts(
                **CUSTOMER,
                purchases=(
                    bought("cloud", order="A-1"),
                    bought("backup", order="A-2", days=5),
                    bought("payroll", order="A-3", days=9),
                ),
            ),
            ["secure"],
            "email",
            True,
            "A-2",
        ),
    ],
)
def test_existing_customer_exception(_case, facts, products, channel, allowed, order):
    answer = may_contact(policy.current(), facts, purpose="direct_marketing", channel=channel, products=products)
    assert answer.allowed is allowed
    if channel == "email" and allowed:
        assert (answer.reason, answer.order, answer.recorded) == (
            "existing_customer",
            order,
            f"existing_customer:order={order}",
        )
    if channel == "phone":
        assert answer.reason == "legitimate_interest", "phone rests on its own basis, never on the exception"


def test_the_exception_never_covers_newsletters():
    answer = may_contact(
        policy.current(),
        facts(is_customer=True, purchases=(bought("cloud"),)),
        purpose="newsletter",
        channel="email",
        products=["cloud"],
    )
    assert (answer.allowed, answer.reason) == (False, "no_consent")


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
