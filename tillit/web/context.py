"""Template context for the staff UI: the signed-in member's role label and tools."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import get_language

from tillit import policy


def staff(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    current = policy.current()
    if not role or role not in current.roles:
        return {"staff_tools": frozenset(), "staff_role_label": ""}
    language = (get_language() or "en")[:2]
    labels = current.roles[role].label
    from tillit.core.actors import Actor
    from tillit.marketing import selectors as marketing
    from tillit.sharing import selectors as sharing

    actor = Actor(kind="staff", role=role, user_id=user.pk, label="")  # type: ignore[union-attr]
    return {
        "staff_tools": current.roles[role].tools,
        "staff_role_label": labels.get(language, labels["en"]),
        "staff_campaigns": marketing.may_run_campaigns(actor),
        "staff_call_list": bool(marketing.call_purposes(actor)),
        "staff_partners": sharing.may_work_with_partners(actor),
    }
