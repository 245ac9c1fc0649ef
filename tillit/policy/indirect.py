"""GDPR art. 14: people whose data we did not get from them are told, or exempt (§4, §6).

Pure rules: how the policy says a source is handled, and when the notice is due. The daily job
(``consent.indirect``) acts on them; ``tillit verify`` checks the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tillit.policy.retention import subtract_months
from tillit.policy.schema import Policy, Source

NOTIFY = "notify"
EXEMPT = "exempt"
# Art. 14(3)(a): within a reasonable period, at the latest one month after obtaining the data.
MONTHS_TO_TELL = 1


def handling(policy: Policy, source: str) -> str | None:
    """ "notify", "exempt", or None when art. 14 does not apply to ``source`` (a direct source,
    an unpublished one such as demo data, or one the policy does not know)."""
    found: Source | None = policy.sources.get(source)
    if found is None or found.direct or found.section == 0:
        return None
    return found.art14


def indirect_sources(policy: Policy) -> dict[str, str]:
    """Every source art. 14 applies to -> "notify" or "exempt"."""
    return {key: h for key in policy.sources if (h := handling(policy, key)) is not None}


def due_by(obtained_at: dt.datetime) -> dt.datetime:
    """When the art. 14 notice is due: one calendar month after the data were obtained (in the
    controller's time zone; 31 January gives the last day of February)."""
    return subtract_months(obtained_at, -MONTHS_TO_TELL)


@dataclass(frozen=True)
class Art14Facts:
    source: str
    obtained_at: dt.datetime
    told_at: dt.datetime | None  # when the notice was sent, if it was
    exemption_recorded: bool


def art14_problem(policy: Policy, facts: Art14Facts, now: dt.datetime) -> str | None:
    """Why a person obtained from ``facts.source`` breaks art. 14 at ``now``, or None: past
    the month and neither told nor exempt, or told after the month. An exemption counts when
    the policy in force claims one for the source (recorded per person, or not yet)."""
    how = handling(policy, facts.source)
    if how is None:
        return None
    if how == EXEMPT or facts.exemption_recorded:
        return None
    deadline = due_by(facts.obtained_at)
    if facts.told_at is not None:
        if facts.told_at <= deadline:
            return None
        late = -((deadline - facts.told_at) // dt.timedelta(days=1))  # whole days, rounded up
        return f"told {late} days late"
    if now > deadline:
        return f"not told, due {deadline:%Y-%m-%d}"
    return None
