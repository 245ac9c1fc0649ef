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
