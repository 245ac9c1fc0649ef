"""The assessments the law asks of the policy, and the transfers it allows (pure rules).

- GDPR art. 6(4): a purpose added after the data was collected, resting on a basis other than
  consent, may be used only when the policy holds its compatibility assessment (factors (a)-(e)
  and a date). "Added after" is known two ways, both checked: the policy names the purposes the
  data was first collected for (``[notice] original_purposes``; the loader refuses any other
  non-consent purpose without ``compatibility``), and ``tillit notice changes`` / ``inform``
  refuse to inform people of a purpose their notice lacked (so it is new to them) while that
  purpose rests on something other than consent without an assessment.
- GDPR art. 35: a purpose that profiles people (``profiling = true``; every marketing purpose
  on the web channel does) references a DPIA or the screening that found none is needed.
- GDPR chapter V: a sub-processor outside the EEA names its transfer mechanism.
"""

from __future__ import annotations

from collections.abc import Iterable

from tillit.policy.schema import Policy, Purpose

# The EEA: the 27 EU member states, Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2).
EEA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
# GDPR art. 45 (an adequacy decision), art. 46(2)(c) (standard contractual clauses), art. 47
# (binding corporate rules).
TRANSFER_MECHANISMS = ("adequacy_decision", "standard_contractual_clauses", "binding_corporate_rules")
IMPACT_ASSESSMENT_KINDS = ("dpia", "screening")
# The art. 6(4) factors, as the policy file names them.
COMPATIBILITY_FACTORS = ("link", "context", "nature", "consequences", "safeguards")


def outside_eea(country: str) -> bool:
    return country.upper() not in EEA_COUNTRIES


def needs_compatibility(purpose: Purpose) -> bool:
    """Art. 6(4) applies to a purpose resting, on any channel, on something other than consent."""
    return any(basis != "consent" for basis in purpose.bases.values())


def profiles(purpose: Purpose) -> bool:
    """A purpose that profiles people: flagged, or direct marketing on the web channel
    (personalising what a visitor sees from what they do)."""
    return purpose.profiling or (purpose.marketing and "web" in purpose.bases)


def unassessed(current: Policy, purposes: Iterable[str]) -> list[str]:
    """Of ``purposes`` (new to someone), those that may not be unlocked: resting on a basis
    other than consent without a compatibility assessment in the policy."""
    result = []
    for key in sorted(set(purposes)):
        purpose = current.purposes.get(key)
        if purpose is None or not needs_compatibility(purpose):
            continue
        if purpose.compatibility is None or purpose.compatibility not in current.compatibility:
            result.append(key)
    return result


# GDPR art. 4(7)-(8), 26, 28: what a partner is to us.
PARTNER_ROLES = ("independent_controller", "joint_controller", "processor")


def partner_role_problem(current: Policy, *, key: str, role: str) -> str | None:
    """Why a partner registered under ``key`` may not have ``role``, or None. A joint
    controller needs its arrangement in the policy (art. 26(2): the notice publishes its
    essence); a processor needs its entry under ``[processors]`` (agreement, sub-processors)."""
    if role not in PARTNER_ROLES:
        return f"one of: {', '.join(PARTNER_ROLES)}"
    if role == "joint_controller" and key not in current.joint_controllers:
        return f"a joint controller needs its arrangement in the privacy policy ([joint_controllers.{key}])"
    if role == "processor" and key not in current.processors:
        return f"a processor needs its entry in the privacy policy ([processors.{key}])"
    return None
