"""Staff pages for capture: define forms (what they ask, their consent boxes, the language),
see how many submissions each has, the embed snippet; material to download; merging two
records of the same person.

Views translate only: parse, build the actor, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from tillit import policy
from tillit.capture import selectors, services
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, PermissionDeniedError, ValidationError
from tillit.people import selectors as people_selectors
from tillit.people import services as people_services
from tillit.policy import capture as rules
from tillit.web.views import staff_view

FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "email": gettext_lazy("Email"),
    "phone": gettext_lazy("Phone"),
    "organisation": gettext_lazy("Organisation"),
    "position": gettext_lazy("Position"),
    "industry": gettext_lazy("Industry"),
    "product_interests": gettext_lazy("Product interests"),
    "message": gettext_lazy("Message (free text)"),
    "question": gettext_lazy("Question (free text)"),
}


def _box_key(purpose: str, channel: str) -> str:
    return f"{purpose}/{channel}"


class FormDefinition(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the form"), max_length=200)
    language = forms.ChoiceField(label=gettext_lazy("Language"))
    ask = forms.MultipleChoiceField(label=gettext_lazy("Ask for"), widget=forms.CheckboxSelectMultiple, required=False)
    required_fields = forms.MultipleChoiceField(
        label=gettext_lazy("Required"), widget=forms.CheckboxSelectMultiple, required=False
    )
    products = forms.CharField(
        label=gettext_lazy("Products to choose from (one per line)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5000,
    )
    consents = forms.MultipleChoiceField(
        label=gettext_lazy("Consent boxes (shown unticked)"), widget=forms.CheckboxSelectMultiple, required=False
    )
    material = forms.TypedChoiceField(
        label=gettext_lazy("Material offered after a submission"), required=False, coerce=int, empty_value=None
    )
    is_active = forms.BooleanField(label=gettext_lazy("In use"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = policy.current()
        self._choices("language").choices = [(code, code) for code in current.languages]
        choices = [(key, FIELD_LABELS[key]) for key in rules.FORM_FIELDS]
        self._choices("ask").choices = choices
        self._choices("required_fields").choices = choices
        boxes = rules.form_consent_boxes(current)
        self._choices("consents").choices = [
            (_box_key(p, c), f"{current.purposes[p].label['en']} ({c})") for p, c in boxes
        ]
        for p, c in boxes:
            self.fields[f"wording_{p}_{c}"] = forms.CharField(
                label=_("Wording for %(purpose)s (%(channel)s); empty: from the policy") % {"purpose": p, "channel": c},
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        self._choices("material").choices = [("", "—"), *selectors.material_choices()]

    def _choices(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def definition(self) -> dict[str, Any]:
        data = self.cleaned_data
        ask = [key for key in rules.FORM_FIELDS if key in set(data["ask"]) | {"name", "email"}]
        products = [line.strip() for line in data["products"].splitlines() if line.strip()]
        fields = [
            {
                "name": key,
                "required": key in data["required_fields"],
                **({"options": products} if key == "product_interests" else {}),
            }
            for key in ask
        ]
        consents = []
        for key in data["consents"]:
            purpose, channel = key.split("/", 1)
            consents.append(
                {"purpose": purpose, "channel": channel, "wording": data.get(f"wording_{purpose}_{channel}", "")}
            )
        return {
            "name": data["name"],
            "language": data["language"],
            "fields": fields,
            "consents": consents,
            "material_id": data["material"],
        }


def _initial(form: Any) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": form.name,
        "language": form.language,
        "ask": [f["name"] for f in form.fields],
        "required_fields": [f["name"] for f in form.fields if f["required"]],
        "products": "\n".join(
            next((f.get("options", []) for f in form.fields if f["name"] == "product_interests"), [])
        ),
        "consents": [_box_key(c["purpose"], c["channel"]) for c in form.consents],
        "material": form.material_id,
        "is_active": form.is_active,
    }
    for c in form.consents:
        initial[f"wording_{c['purpose']}_{c['channel']}"] = c["wording"]
    return initial


def _apply_error(form: forms.Form, error: ValidationError) -> None:
    field = (error.field or "").split(".", 1)[0]
    target = {"fields": "ask", "material_id": "material"}.get(field, field)
    form.add_error(target if target in form.fields else None, error.message)


@staff_view
def forms_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Every form with its number of submissions, and the material to download."""
    return render(
        request,
        "web/capture_forms.html",
        {"forms": selectors.forms_overview(actor=actor), "materials": selectors.materials_overview(actor=actor)},
    )


@staff_view
@require_http_methods(["GET", "POST"])
def form_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_forms_tool(actor)
    definition = FormDefinition(request.POST or None, initial={"ask": ["name", "email"], "language": "en"})
    if request.method == "POST" and definition.is_valid():
        try:
            form = services.create_form(actor=actor, now=timezone.now(), **definition.definition())
        except ValidationError as error:
            _apply_error(definition, error)
        else:
            messages.success(request, _("The form is saved."))
            return HttpResponseRedirect(reverse("web:capture-form", args=[form.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "web/capture_form_edit.html", {"definition": definition, "form": None}, status=status)


@staff_view
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, actor: Actor, form_id: int) -> HttpResponse:
    form = selectors.form_for_staff(actor=actor, form_id=form_id)
    definition = FormDefinition(request.POST or None, initial=_initial(form))
    if request.method == "POST" and definition.is_valid():
        try:
            services.update_form(
                actor=actor,
                now=timezone.now(),
                form_id=form.pk,
                is_active=definition.cleaned_data["is_active"],
                **definition.definition(),
            )
        except ValidationError as error:
            _apply_error(definition, error)
        else:
            messages.success(request, _("The form is saved."))
            return HttpResponseRedirect(reverse("web:capture-form", args=[form.pk]))
    public_url = request.build_absolute_uri(reverse("capture:form", args=[form.public_id]))
    embed_url = request.build_absolute_uri(reverse("capture:embed"))
    return render(
        request,
        "web/capture_form_edit.html",
        {
            "definition": definition,
            "form": form,
            "public_url": public_url,
            "snippet": f'<script src="{embed_url}" data-tillit-form="{form.public_id}" async></script>',
            "json_url": request.build_absolute_uri(reverse("capture:submissions", args=[form.public_id])),
        },
        status=422 if request.method == "POST" else 200,
    )


class MaterialForm(forms.Form):
    slug = forms.SlugField(label=gettext_lazy("Short name in the link (/d/<name>/)"), max_length=80)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    url = forms.CharField(label=gettext_lazy("File address (https://... or /...)"), max_length=500)


@staff_view
@require_http_methods(["GET", "POST"])
def material_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_forms_tool(actor)
    material = MaterialForm(request.POST or None)
    if request.method == "POST" and material.is_valid():
        try:
            services.create_material(actor=actor, now=timezone.now(), **material.cleaned_data)
        except DomainError as error:
            material.add_error(error.field if error.field in material.fields else None, error.message)
        else:
            messages.success(request, _("The material is saved."))
            return HttpResponseRedirect(reverse("web:capture-forms"))
    status = 422 if request.method == "POST" else 200
    return render(request, "web/capture_material_new.html", {"material": material}, status=status)


# --- merging two records of the same person ------------------------------------------------------


def _check_merge(actor: Actor) -> None:
    if not rules.may_merge_people(policy.current(), actor.role):
        raise PermissionDeniedError(_("your role may not merge people"))


@staff_view
@require_http_methods(["GET", "POST"])
def merge_pick(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """Find the other record of the same person (search through the read gate). The term is
    posted, never put in the URL (DESIGN.md rule 10)."""
    _check_merge(actor)
    now = timezone.now()
    person = people_selectors.get_person(actor=actor, now=now, person_id=person_id)
    query = request.POST.get("q", "")[:200] if request.method == "POST" else ""
    results = None
    if query.strip():
        page = people_selectors.search_people(actor=actor, now=now, purpose=person["purpose"], query=query)
        results = [p for p in page.items if p["id"] != person_id]
    return render(request, "web/merge_pick.html", {"person": person, "q": query, "results": results})


@staff_view
@require_http_methods(["GET", "POST"])
def merge_confirm(request: HttpRequest, actor: Actor, person_id: int, other_id: int) -> HttpResponse:
    """Both records side by side; confirming merges the other into this one."""
    _check_merge(actor)
    now = timezone.now()
    keep = people_selectors.get_person(actor=actor, now=now, person_id=person_id)
    other = people_selectors.get_person(actor=actor, now=now, person_id=other_id, purpose=keep["purpose"])
    if request.method == "POST":
        result = people_services.merge_people(actor=actor, now=now, keep_id=person_id, duplicate_id=other_id)
        messages.success(
            request,
            _("Merged: %(moved)s records moved to this person; the duplicate record is removed.")
            % {"moved": sum(result.moved.values())},
        )
        return HttpResponseRedirect(reverse("web:person", args=[person_id]))
    rows = [
        (label, keep.get(key), other.get(key))
        for key, label in (
            ("name", _("Name")),
            ("email", _("Email")),
            ("phone", _("Phone")),
            ("position", _("Position")),
            ("language", _("Language")),
            ("last_contact_at", _("Last contact")),
            ("retain_explanation", _("Kept until")),
        )
        if key in keep or key in other
    ]
    org = (keep.get("organization") or {}).get("name"), (other.get("organization") or {}).get("name")
    if any(org):
        rows.insert(4, (_("Organisation"), org[0], org[1]))
    return render(request, "web/merge_confirm.html", {"keep": keep, "other": other, "rows": rows})
