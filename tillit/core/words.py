"""The words, in every published language (gettext), for the fixed vocabulary of
``tillit.core.vocabulary``: one home for what the notice, the access answer and the pages say
about legal bases and rights. The policy decides where they apply."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

BASIS_WORDS: Mapping[str, Promise] = {
    "consent": _("your consent (GDPR art. 6(1)(a))"),
    "contract": _("the contract, that is the customer relationship (GDPR art. 6(1)(b))"),
    "legal_obligation": _("a legal obligation (GDPR art. 6(1)(c))"),
    "legitimate_interest": _("our legitimate interest (GDPR art. 6(1)(f))"),
}
RIGHT_WORDS: Mapping[str, Promise] = {
    "access": _(
        "Access: to know whether we process data about you and to get a copy of it, with the purposes, "
        "recipients, sources and how long we keep it (GDPR art. 15)."
    ),
    "rectification": _("Rectification: to have incorrect data corrected and incomplete data completed (GDPR art. 16)."),
    "erasure": _("Erasure: to have your data erased when we no longer have a ground to keep it (GDPR art. 17)."),
    "withdrawal": _("Withdrawal: to withdraw a consent at any time, as easily as you gave it (GDPR art. 7(3))."),
    "portability": _(
        "Portability: to receive the data you gave us in a structured, machine-readable format, or "
        "to have it sent to someone else (GDPR art. 20)."
    ),
    "objection": _(
        "Objection: to object to processing based on our legitimate interest, and at any time to "
        "direct marketing (GDPR art. 21)."
    ),
    "restriction": _(
        "Restriction: to have us keep your data but not use it while its accuracy or our grounds are checked, "
        "or when you need it for a legal claim; we tell you before the restriction is lifted (GDPR art. 18)."
    ),
}

# GDPR chapter V: how a transfer outside the EEA is made lawful ("none": inside the EEA).
TRANSFER_WORDS: Mapping[str, Promise] = {
    "none": _("none (inside the EEA)"),
    "adequacy_decision": _("an adequacy decision of the European Commission (GDPR art. 45)"),
    "standard_contractual_clauses": _("the European Commission's standard contractual clauses (GDPR art. 46(2)(c))"),
    "binding_corporate_rules": _("binding corporate rules (GDPR art. 47)"),
}
# GDPR art. 4(7)-(8), 26, 28: what a partner is to us.
PARTNER_ROLE_WORDS: Mapping[str, Promise] = {
    "independent_controller": _("an independent controller: it decides itself how it uses the data it receives"),
    "joint_controller": _("a joint controller with us (GDPR art. 26)"),
    "processor": _("our processor: it processes the data only on our instructions (GDPR art. 28)"),
}


def transfer_words(mechanism: str | None) -> str:
    """The words for a sub-processor's transfer mechanism (None: inside the EEA)."""
    return str(TRANSFER_WORDS.get(mechanism or "none", mechanism or ""))


# Why a person is still stored (tillit.policy.retention's reasons), as a short label for lists;
# the person page explains it in a sentence (retention.selectors.explain).
RETENTION_REASON_WORDS: Mapping[str, Promise] = {
    "registered": _("registered, no contact since"),
    "dialogue": _("last contact"),
    "subscribed": _("subscribed to a newsletter"),
    "unsubscribed": _("unsubscribed"),
    "customer": _("active customer"),
    "customer_ended": _("former customer"),
    "customer_orders": _("customer by orders"),
}
