"""Staff actions on a person's dialogue with us (policy §7, §11): open one, close one, from the
person page. The person must pass the read gate for the purpose the kind of dialogue serves;
``people.dialogues`` decides and audits."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tillit.core.actors import Actor
from tillit.people import dialogues
from tillit.people import selectors as people_selectors
from tillit.web.views import staff_view


def _back(request: HttpRequest, person_id: int) -> HttpResponseRedirect:
    purpose = request.POST.get("purpose", "")
    return HttpResponseRedirect(reverse("web:person", args=[person_id]) + "?" + urlencode({"purpose": purpose}))


@staff_view
@require_POST
def dialogue_open(request: HttpRequest, actor: Actor, person_id: int, kind: str) -> HttpResponse:
    """Open a dialogue of ``kind`` with the person (e.g. sales starts talking with them)."""
    now = timezone.now()
    purpose = dialogues.purpose_of(kind)
    people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    opened = dialogues.open_dialogue(actor=actor, now=now, person_id=person_id, kind=kind)[1]
    if opened:
        messages.success(request, _("The dialogue is open."))
    else:
        messages.info(request, _("A dialogue of this kind was already open."))
    return _back(request, person_id)


@staff_view
@require_POST
def dialogue_close(request: HttpRequest, actor: Actor, person_id: int, kind: str) -> HttpResponse:
    """Close the person's open dialogue of ``kind``: off the sales call list, and nothing more
    goes to a partner about them through it."""
    now = timezone.now()
    purpose = dialogues.purpose_of(kind)
    people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    if dialogues.close_dialogue(actor=actor, now=now, person_id=person_id, kind=kind):
        messages.success(request, _("The dialogue is closed."))
    else:
        messages.info(request, _("There was no open dialogue of this kind."))
    return _back(request, person_id)
