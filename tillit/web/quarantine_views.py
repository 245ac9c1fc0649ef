"""The privacy officer's review of text the sensitive data guard held back (§16, GDPR art. 9):
the list (no text), opening one (audited), releasing a false positive or discarding it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tillit.core.actors import Actor
from tillit.people import selectors, services
from tillit.web.views import staff_view


@staff_view
def quarantine_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    page = selectors.quarantine_for(actor=actor, now=timezone.now(), page=page_number)
    return render(request, "web/quarantine.html", {"page": page})


@staff_view
def quarantine_item(request: HttpRequest, actor: Actor, quarantine_id: int) -> HttpResponse:
    item = selectors.open_quarantined_text(actor=actor, now=timezone.now(), quarantine_id=quarantine_id)
    return render(request, "web/quarantine_item.html", {"item": item})


@staff_view
@require_POST
def quarantine_decide(request: HttpRequest, actor: Actor, quarantine_id: int) -> HttpResponse:
    if request.POST.get("decision") == "release":
        services.release_quarantined_text(actor=actor, now=timezone.now(), quarantine_id=quarantine_id)
        messages.success(request, _("Released: the text is back on the timeline."))
    else:
        services.discard_quarantined_text(actor=actor, now=timezone.now(), quarantine_id=quarantine_id)
        messages.success(request, _("Discarded: the held text is deleted."))
    return HttpResponseRedirect(reverse("web:quarantine"))
