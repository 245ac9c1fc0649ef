"""Restriction of processing (policy §13; GDPR art. 18).

A person may have the processing of their data restricted on one of four grounds (art. 18(1)):

- ``accuracy_contested`` (a): they contest its accuracy, for the time it takes us to check it;
- ``unlawful_processing`` (b): the processing is unlawful and they oppose erasure, asking for
  restriction instead;
- ``legal_claims`` (c): we no longer need the data, but they need it for a legal claim;
- ``objection_pending`` (d): they objected under art. 21(1), while we check whether our
  legitimate grounds override theirs.

While restricted, the data is only stored (art. 18(2)): no campaign, call list or disclosure,
and staff read it only in a role the policy's ``[restriction] readers`` names or for one of
its ``purposes``. Lifting tells the person first (art. 18(3)).

Retention (decided here, documented in ``policy/avara.toml`` and docs/architecture.md): the
deadline still runs, except for grounds (b) and (c), where the person asked us to keep the
data instead of erasing it; then the sweep leaves them until the restriction is lifted.

Pure: the policy and the facts come in as arguments.
"""

from __future__ import annotations

from typing import Final

from tillit.policy.schema import Policy

ACCURACY_CONTESTED: Final = "accuracy_contested"
UNLAWFUL_PROCESSING: Final = "unlawful_processing"
LEGAL_CLAIMS: Final = "legal_claims"
OBJECTION_PENDING: Final = "objection_pending"
# The grounds of art. 18(1), in the order of its points (a)-(d).
GROUNDS: Final = (ACCURACY_CONTESTED, UNLAWFUL_PROCESSING, LEGAL_CLAIMS, OBJECTION_PENDING)
ARTICLE: Final = {
    ACCURACY_CONTESTED: "18(1)(a)",
    UNLAWFUL_PROCESSING: "18(1)(b)",
    LEGAL_CLAIMS: "18(1)(c)",
    OBJECTION_PENDING: "18(1)(d)",
}
# The grounds on which the person asked us to keep the data rather than erase it: the
# retention deadline waits for the lift (art. 18(1)(b) "opposes the erasure", (c) "required by
# the data subject for ... legal claims").
HOLDS_DATA: Final = frozenset({UNLAWFUL_PROCESSING, LEGAL_CLAIMS})


def may_read_restricted(policy: Policy, role: str | None, purpose: str) -> bool:
    """Whether a read by ``role`` (None: an automatic process) for ``purpose`` may see a
    restricted person: the role is one of ``[restriction] readers`` or the purpose one of its
    ``purposes`` (art. 18(2))."""
    rules = policy.restriction
    return (role is not None and role in rules.readers) or purpose in rules.purposes


def holds_data(grounds: str) -> bool:
    """Whether a restriction on ``grounds`` keeps the person past their retention deadline
    (until it is lifted)."""
    return grounds in HOLDS_DATA
