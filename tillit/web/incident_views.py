"""The breach register for the privacy officer (GDPR art. 33-34): record an incident, watch
the 72-hour clock, find and attach the people affected, record the notification to the
supervisory authority, send the notice to the people, and the report (HTML and PDF) with
the contents of art. 33(3). Only the roles the policy gives the ``breach_register`` tool."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.incidents import report as incident_report
from tillit.incidents import selectors, services, tasks
from tillit.web.views import staff_view

_MOMENT = {"type": "datetime-local"}


def _language() -> str:
    return (get_language() or "en")[:2]


def _category_choices() -> list[tuple[str, str]]:
    current, language = policy.current(), _language()
    return [(key, str(c.label.get(language, c.label["en"]))) for key, c in current.categories.items()]


class IncidentForm(forms.Form):
    title = forms.CharField(
        label=gettext_lazy("Title (no personal data)"), max_length=200, help_text=gettext_lazy("e.g. Laptop stolen")
    )
    aware_at = forms.DateTimeField(label=gettext_lazy("When we became aware"), widget=forms.DateTimeInput(_MOMENT))
    occurred_at = forms.DateTimeField(
        label=gettext_lazy("When it happened (if known)"), required=False, widget=forms.DateTimeInput(_MOMENT)
    )
    description = forms.CharField(
        label=gettext_lazy("What happened (describe the breach, not the people)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Categories of personal data concerned"), widget=forms.CheckboxSelectMultiple
    )
    approximate_people = forms.IntegerField(
        label=gettext_lazy("Approximate number of people"), min_value=0, max_value=2_000_000_000
    )
    consequences = forms.CharField(
        label=gettext_lazy("Likely consequences"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    measures = forms.CharField(
        label=gettext_lazy("Measures taken or proposed"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = _category_choices()  # type: ignore[attr-defined]


class NotificationForm(forms.Form):
    notified_at = forms.DateTimeField(label=gettext_lazy("Notified on"), widget=forms.DateTimeInput(_MOMENT))
    reference = forms.CharField(label=gettext_lazy("Datatilsynet's reference"), max_length=100)
    late_reason = forms.CharField(
        label=gettext_lazy("Reasons for the delay (required after 72 hours)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NoRiskForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Or: why the breach is unlikely to result in a risk to people (no notification needed)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class UpdateForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("What we have found since (no personal data)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class StaffQueryForm(forms.Form):
    staff_user_id = forms.IntegerField(label=gettext_lazy("Staff member id"), min_value=1)
    since = forms.DateTimeField(label=gettext_lazy("From"), widget=forms.DateTimeInput(_MOMENT))
    until = forms.DateTimeField(label=gettext_lazy("Until"), widget=forms.DateTimeInput(_MOMENT))


class ExportQueryForm(forms.Form):
    export_id = forms.IntegerField(label=gettext_lazy("Export number"), min_value=1)


class PartnerQueryForm(forms.Form):
    partner_id = forms.IntegerField(label=gettext_lazy("Partner"), min_value=1)
    since = forms.DateTimeField(label=gettext_lazy("From"), required=False, widget=forms.DateTimeInput(_MOMENT))
    until = forms.DateTimeField(label=gettext_lazy("Until"), required=False, widget=forms.DateTimeInput(_MOMENT))


QUERY_FORMS: dict[str, type[forms.Form]] = {
    "staff": StaffQueryForm,
    "export": ExportQueryForm,
    "partner": PartnerQueryForm,
}


def _question(kind: str, data: dict[str, Any]) -> selectors.Question:
    if kind == "staff":
        return selectors.ReadByStaff(data["staff_user_id"], data["since"], data["until"])
    if kind == "export":
        return selectors.InExport(data["export_id"])
    return selectors.DisclosedToPartner(data["partner_id"], data.get("since"), data.get("until"))


@staff_view
def incidents(request: HttpRequest, actor: Actor) -> HttpResponse:
    page = selectors.incidents(actor=actor, now=timezone.now())
    return render(request, "web/incidents.html", {"page": page})


@staff_view
def incident_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.require_breach_register(actor)
    form = IncidentForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.record_incident(
                    actor=actor,
                    now=timezone.now(),
                    title=data["title"],
                    description=data["description"],
                    aware_at=data["aware_at"],
                    occurred_at=data["occurred_at"],
                    categories=data["categories"],
                    approximate_people=data["approximate_people"],
                    consequences=data["consequences"],
                    measures=data["measures"],
                )
            except ValidationError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                recorded = _("The incident is recorded. The 72-hour clock runs from when we became aware.")
                messages.success(request, recorded)
                return HttpResponseRedirect(reverse("web:incident", args=[incident.pk]))
        status = 422
    return render(request, "web/incident_new.html", {"form": form}, status=status)


def _detail(request: HttpRequest, actor: Actor, incident_id: int, status: int = 200, **forms_: Any) -> HttpResponse:
    now = timezone.now()
    incident = selectors.incident(actor=actor, now=now, incident_id=incident_id)
    labels = dict(_category_choices())
    context = {
        "incident": incident,
        "clock": incident_report.clock_words(incident),
        "category_labels": [labels.get(key, key) for key in incident["categories"]],
        "affected": selectors.affected(actor=actor, incident_id=incident_id),
        "exports": selectors.exports(actor=actor, limit=20),
        "partners": selectors.partners(actor=actor),
        "notification_form": forms_.get("notification_form") or NotificationForm(),
        "update_form": forms_.get("update_form") or UpdateForm(),
        "no_risk_form": forms_.get("no_risk_form") or NoRiskForm(),
        "staff_form": forms_.get("staff_form") or StaffQueryForm(prefix="staff"),
        "export_form": forms_.get("export_form") or ExportQueryForm(prefix="export"),
        "partner_form": forms_.get("partner_form") or PartnerQueryForm(prefix="partner"),
    }
    return render(request, "web/incident.html", context, status=status)


@staff_view
def incident_detail(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    return _detail(request, actor, incident_id)


@staff_view
@require_POST
def incident_affected(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    """Find people by one question (staff member and period, export, partner) and attach them."""
    selectors.require_breach_register(actor)
    kind = request.POST.get("kind", "")
    if kind not in QUERY_FORMS:
        raise ValidationError("choose how to find the people: staff, export or partner", field="kind")
    form = QUERY_FORMS[kind](request.POST, prefix=kind)
    if form.is_valid():
        try:
            added = services.attach_affected(
                actor=actor, now=timezone.now(), incident_id=incident_id, question=_question(kind, form.cleaned_data)
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("%(count)d people attached to the incident.") % {"count": added})
            return HttpResponseRedirect(reverse("web:incident", args=[incident_id]) + "#affected")
    return _detail(request, actor, incident_id, status=422, **{f"{kind}_form": form})


@staff_view
@require_POST
def incident_notification(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    """Record that Datatilsynet was notified (when, its reference; the reasons if late)."""
    selectors.require_breach_register(actor)
    form = NotificationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.record_authority_notification(
                actor=actor,
                now=timezone.now(),
                incident_id=incident_id,
                notified_at=data["notified_at"],
                reference=data["reference"],
                late_reason=data["late_reason"],
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("The notification to the supervisory authority is recorded."))
            return HttpResponseRedirect(reverse("web:incident", args=[incident_id]))
    return _detail(request, actor, incident_id, status=422, notification_form=form)


@staff_view
@require_POST
def incident_no_risk(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    """Record why no notification is needed (the breach is unlikely to result in a risk)."""
    selectors.require_breach_register(actor)
    form = NoRiskForm(request.POST)
    if form.is_valid():
        try:
            services.record_no_risk(
                actor=actor, now=timezone.now(), incident_id=incident_id, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("The decision not to notify, and its reasons, are recorded."))
            return HttpResponseRedirect(reverse("web:incident", args=[incident_id]))
    return _detail(request, actor, incident_id, status=422, no_risk_form=form)


@staff_view
@require_POST
def incident_update(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    """Add what was found since (art. 33(4)); what was recorded before is not changed."""
    selectors.require_breach_register(actor)
    form = UpdateForm(request.POST)
    if form.is_valid():
        try:
            services.add_update(
                actor=actor, now=timezone.now(), incident_id=incident_id, text=form.cleaned_data["text"]
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("The new information is added to the incident."))
            return HttpResponseRedirect(reverse("web:incident", args=[incident_id]) + "#updates")
    return _detail(request, actor, incident_id, status=422, update_form=form)


@staff_view
@require_POST
def incident_notices(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    """Send the art. 34 notice to every attached person not yet asked for (by the task worker)."""
    count = services.request_notices(actor=actor, now=timezone.now(), incident_id=incident_id)
    tasks.send_breach_notices.enqueue(incident_id)
    messages.success(request, _("The notice is being sent to %(count)d people.") % {"count": count})
    return HttpResponseRedirect(reverse("web:incident", args=[incident_id]) + "#affected")


def _report(actor: Actor, incident_id: int) -> dict[str, Any]:
    return selectors.report(actor=actor, now=timezone.now(), incident_id=incident_id, language=_language())


@staff_view
def incident_report_page(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    report = _report(actor, incident_id)
    return render(request, "web/incident_report.html", {"report": report, "clock": incident_report.clock_words(report)})


@staff_view
def incident_report_pdf(request: HttpRequest, actor: Actor, incident_id: int) -> HttpResponse:
    pdf = incident_report.render_pdf(_report(actor, incident_id), language=_language())
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="breach-{incident_id}.pdf"'
    return response
