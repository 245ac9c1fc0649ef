"""Public pages of sharing: the policy as W3C Data Privacy Vocabulary JSON-LD (§1-§16, the same
file as the notice), and the page where a partner or processor acknowledges a notice about a
correction or an erasure (GDPR art. 19) through the signed link in the email."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tillit import policy
from tillit.core.errors import DomainError
from tillit.sharing import dpv, services


def policy_jsonld(request: HttpRequest) -> HttpResponse:
    document = dpv.policy_jsonld(policy.current(), base=settings.TILLIT_PUBLIC_URL)
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=1), content_type="application/ld+json; charset=utf-8"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (a link preview must not acknowledge); POST acknowledges."""
    context: dict[str, object] = {"token": token, "done": False, "error": None}
    if request.method == "POST":
        try:
            services.acknowledge_notice(now=timezone.now(), token=token)
        except DomainError as error:
            context["error"] = error
            return render(request, "public/recipient_ack.html", context, status=error.status)
        context["done"] = True
    return render(request, "public/recipient_ack.html", context)
