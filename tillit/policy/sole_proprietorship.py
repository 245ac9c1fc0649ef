"""§6, GDPR art. 4(1): a sole proprietorship names a natural person (pure rules).

A sole proprietorship (organisation form ``ENK`` in the register of legal entities) is not a
company apart from its owner: its name is usually the owner's name and its business address
often their home. Such an organisation is personal data of its owner:

- classified: its name and address are the owner's (``names_a_person``; staff see it marked);
- kept while a person is linked to it, and otherwise ``years`` after the register last gave or
  changed it (``retain_until``; the daily sweep erases it after);
- erased with the person linked to it when nobody else is (``retention.services.erase_person``);
- told of under GDPR art. 14 through the person linked to it, as the policy says for the
  source it came from (``consent.indirect.record_due``).
"""

from __future__ import annotations

import datetime as dt

from tillit.policy.retention import subtract_months
from tillit.policy.schema import Policy


def names_a_person(policy: Policy, organisation_form: str) -> bool:
    return organisation_form.upper() in policy.sole_proprietorships.forms


def retain_until(policy: Policy, *, last_obtained: dt.datetime, linked_people: int) -> dt.datetime | None:
    """Until when a sole proprietorship may be kept: no deadline while a person is linked to it
    (their own deadline governs them); else ``years`` after it was last obtained or changed."""
    if linked_people > 0:
        return None
    return subtract_months(last_obtained, -12 * policy.sole_proprietorships.years)


def obtained_before(policy: Policy, now: dt.datetime) -> dt.datetime:
    """A sole proprietorship with no person linked, last obtained before this, is due for erasure."""
    return subtract_months(now, 12 * policy.sole_proprietorships.years)
