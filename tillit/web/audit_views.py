"""The audit log for the privacy officer (§10, §16): who read, exported or changed what, when and
for which purpose, filterable by person, staff member and date. Entries hold ids and field
names only, so the page shows no personal values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy

from tillit.audit import selectors as audit_selectors
from tillit.core.actors import Actor
from tillit.web.views import staff_view

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    """The filters of the audit log page; every one is optional."""

    person = forms.IntegerField(label=gettext_lazy("Person id"), min_value=1, required=False)
    staff = forms.IntegerField(label=gettext_lazy("Staff member id"), min_value=1, required=False)
    since = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        label=gettext_lazy("To (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since > until:
            self.add_error("until", gettext_lazy("The end date is before the start date."))
        return data


def _start_of(day: dt.date | None) -> dt.datetime | None:
    """Midnight at the start of ``day`` in the site's time zone."""
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@staff_view
def audit_log(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The audit log, newest first, 50 entries a page, for roles with the ``audit_log`` tool."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        audit_selectors.require_audit_log_access(actor)  # a refused role gets 403, not the form
        return render(request, "web/audit_log.html", {"form": form, "page": None}, status=422)
    data = form.cleaned_data
    until: dt.date | None = data["until"]
    page = audit_selectors.audit_entries(
        actor=actor,
        person_id=data["person"],
        staff_user_id=data["staff"],
        since=_start_of(data["since"]),
        until=_start_of(until + dt.timedelta(days=1) if until is not None else None),
        page=_page_number(request),
        page_size=PAGE_SIZE,
    )
    filters = {name: request.GET[name] for name in form.fields if request.GET.get(name)}
    return render(request, "web/audit_log.html", {"form": form, "page": page, "base_query": urlencode(filters)})
