"""Reads for capture: form definitions (no personal data) with their submission counts, the
public view of a form, and material."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from tillit import policy
from tillit.capture.models import Form, FormIntake, Material
from tillit.capture.services import HONEYPOT_FIELD, active_form, consent_key
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError
from tillit.policy import capture as rules


def check_forms_tool(actor: Actor) -> None:
    if not rules.may_manage_forms(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not define forms or material")


def forms_overview(*, actor: Actor) -> list[dict[str, Any]]:
    """Every form with its number of submissions, newest first (counts only: no personal data)."""
    check_forms_tool(actor)
    return [
        dict(row)
        for row in Form.objects.annotate(submission_count=Count("submissions"))
        .order_by("-created_at", "-pk")
        .values("pk", "public_id", "name", "language", "source", "is_active", "created_at", "submission_count")
    ]


def form_for_staff(*, actor: Actor, form_id: int) -> Form:
    check_forms_tool(actor)
    form = Form.objects.filter(pk=form_id).select_related("material").first()
    if form is None:
        raise NotFoundError("no such form")
    form.submission_count = form.submissions.count()  # type: ignore[attr-defined]
    return form


def materials_overview(*, actor: Actor) -> list[Material]:
    check_forms_tool(actor)
    return list(Material.objects.order_by("slug"))


def public_form(public_id: Any) -> dict[str, Any]:
    """What a website shows of an active form: its language, fields (with their input names
    and labels), consent boxes (unticked, with their exact wording) and the honeypot's name."""
    form = active_form(public_id)
    return {
        "id": str(form.public_id),
        "name": form.name,
        "language": form.language,
        "fields": [
            {
                "name": f["name"],
                "label": f["label"],
                "required": f["required"],
                "type": {"email": "email", "phone": "tel"}.get(f["name"], "text"),
                "multiline": f["name"] in ("message", "question"),
                **({"options": f["options"]} if "options" in f else {}),
            }
            for f in form.fields
        ],
        "consents": [
            {"name": consent_key(c["purpose"], c["channel"]), "purpose": c["purpose"], "wording": c["wording"]}
            for c in form.consents
        ],
        "honeypot": HONEYPOT_FIELD,
    }


def form_material(public_id: Any) -> Material | None:
    """The material an active form offers after a submission, if any."""
    form = active_form(public_id)
    return Material.objects.filter(pk=form.material_id).first() if form.material_id else None


def material_choices() -> list[tuple[int, str]]:
    """(id, title) of every material, for choosing what a form offers."""
    return list(Material.objects.order_by("title").values_list("pk", "title"))


def intake_counts() -> dict[str, int]:
    """How many submissions wait in the intake and how many were rejected (counts only)."""
    counts = dict(FormIntake.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: int(counts.get(status, 0)) for status in FormIntake.Status.values}


def pending_intake() -> int:
    """How many submissions wait in the intake (an index-only count)."""
    return FormIntake.objects.filter(status=FormIntake.Status.PENDING).count()
