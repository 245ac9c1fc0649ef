"""Which staff role may see which categories, for which purpose (policy §10, §13).

Pure: takes the policy and returns answers; the read gate (``people.selectors``) acts on them.
"""

from __future__ import annotations

from tillit.policy import classification
from tillit.policy.schema import Policy


def visible_categories(policy: Policy, role: str | None, purpose: str) -> frozenset[str]:
    """The categories ``role`` may see when working for ``purpose`` (§10). Empty if none."""
    if role is None or role not in policy.roles:
        return frozenset()
    return policy.roles[role].access.get(purpose, frozenset())


def may_use_purpose(policy: Policy, role: str | None, purpose: str) -> bool:
    """Whether ``role`` may read personal data for ``purpose`` at all."""
    return bool(visible_categories(policy, role, purpose))


def purposes_for_role(policy: Policy, role: str | None) -> tuple[str, ...]:
    """The purposes a role works for, in policy order; the first is its default."""
    if role is None or role not in policy.roles:
        return ()
    return tuple(purpose for purpose in policy.purposes if purpose in policy.roles[role].access)


def visible_fields(policy: Policy, role: str | None, purpose: str, model_key: str) -> frozenset[str]:
    """The fields of ``"app.Model"`` that ``role`` may read for ``purpose``."""
    return classification.fields_in_categories(model_key, visible_categories(policy, role, purpose))


def may_use_tool(policy: Policy, role: str | None, tool: str) -> bool:
    """Whether ``role`` may use a staff page or report without personal data (e.g. the
    retention forecast)."""
    return role is not None and role in policy.roles and tool in policy.roles[role].tools


def stopped_by_objection(
    policy: Policy, *, objected_to_marketing: bool, objected_purposes: frozenset[str] = frozenset()
) -> frozenset[str]:
    """The purposes a person's objections stop (GDPR art. 21; policy §5, §8): after an
    objection to direct marketing (art. 21(2)-(3)) every purpose the policy marks
    ``marketing``, and each ``objectable`` purpose the person objected to on its own (art.
    21(1), or Global Privacy Control). No data may be read or used for a stopped purpose, just
    as for a purpose the person was never told about (§14)."""
    stopped = {
        key
        for key, purpose in policy.purposes.items()
        if (objected_to_marketing and purpose.marketing) or (purpose.objectable and key in objected_purposes)
    }
    return frozenset(stopped)


def may_take_objection(policy: Policy, role: str | None) -> bool:
    """Whether staff of ``role`` may record an objection to direct marketing a person makes to
    them directly (the notice: "by contacting us directly", §5, §8): every role that talks to
    people, that is one that sees their phone number or keeps their calls and emails
    (``correspondence``) for some purpose, or works with their choices (``choices``)."""
    if role is None or role not in policy.roles:
        return False
    return any(categories & {"phone", "correspondence", "choices"} for categories in policy.roles[role].access.values())
