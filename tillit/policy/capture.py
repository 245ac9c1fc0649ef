"""Rules for what comes in from outside: forms, orders, merging people (policy §4, §9, §10).

Pure: each takes the policy (and plain values) and answers; ``tillit.capture`` and
``people.services`` act on the answers.
"""

from __future__ import annotations

from tillit.policy import purposes as purpose_rules
from tillit.policy.schema import Policy

FORMS_TOOL = "capture_forms"
# The channels a form's consent box may ask for: a form collects an address or a number. Website
# behaviour is consented to in the cookie banner (§15), with one exception: the purpose visits
# serve may have a box on the web channel, whose tick lets the visits of the browser that sent
# the form be linked to the person (§4 "technical information"; ``VISITS_PURPOSE``).
FORM_CONSENT_CHANNELS = ("email", "phone")
VISITS_PURPOSE = "statistics"  # the purpose site visits serve (§7)
VISITS_CHANNEL = "web"
# The fields a form may ask for, each with the data category of the policy it collects (§4).
FORM_FIELDS = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "organisation": "organisation",
    "position": "position",
    "industry": "industry",
    "product_interests": "product_interests",
    "message": "form_answers",
    "question": "form_answers",
}


def may_manage_forms(policy: Policy, role: str | None) -> bool:
    """Whether ``role`` may define forms and material (the ``capture_forms`` tool, §10): the
    definitions hold no personal data; the submissions are read through the read gate."""
    return purpose_rules.may_use_tool(policy, role, FORMS_TOOL)


def form_consent_boxes(policy: Policy) -> tuple[tuple[str, str], ...]:
    """The (purpose, channel) pairs a form may offer a consent box for: those that rest on
    consent on a channel a form collects (§5, §8; GDPR art. 6(1)(a), 7), and the purpose of
    site visits on the web channel when it rests on consent (linking visits to the person)."""
    return tuple(
        (key, channel)
        for key, purpose in policy.purposes.items()
        for channel, basis in purpose.bases.items()
        if basis == "consent"
        and (channel in FORM_CONSENT_CHANNELS or (key, channel) == (VISITS_PURPOSE, VISITS_CHANNEL))
    )


def may_record_orders(policy: Policy, role: str | None) -> bool:
    """Whether ``role`` may record orders and services: it sees customer records for a
    purpose that rests on the contract (§7 customer care, §10)."""
    if role is None or role not in policy.roles:
        return False
    return any(
        "customer_records" in categories and "contract" in policy.purposes[purpose].bases.values()
        for purpose, categories in policy.roles[role].access.items()
        if purpose in policy.purposes
    )


MERGE_CATEGORIES = frozenset({"name", "email", "correspondence"})


def may_merge_people(policy: Policy, role: str | None) -> bool:
    """Whether ``role`` may merge two records of the same person: it must be able to see who
    they are and their timeline (name, email and correspondence) for one of its purposes, to
    judge that the two are the same person (§10; GDPR art. 5(1)(d) accuracy)."""
    return any(
        purpose_rules.visible_categories(policy, role, purpose) >= MERGE_CATEGORIES
        for purpose in purpose_rules.purposes_for_role(policy, role)
    )


def hold_for_record(policy: Policy, record: str) -> str | None:
    """The key of the legal hold that keeps ``record`` (e.g. ``"order_lines"``), or None."""
    for key, hold in policy.retention.legal_holds.items():
        if record in hold.records:
            return key
    return None
