"""The person's own consent page, reached by a signed link in every email: see what you agreed
to, withdraw it in one click, or object to direct marketing. No login (GDPR art. 7(3): as easy
to withdraw as to give). A GET never changes anything, so link scanners cannot withdraw."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tillit import policy
from tillit.consent import selectors, services
from tillit.consent.links import CONSENT_LINK_DAYS, CONSENT_LINK_USE
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError
from tillit.core.tokens import TokenError, TokenExpiredError, read_token
from tillit.marketing import selectors as marketing_selectors
from tillit.sharing import tasks as sharing_tasks


def _person(token: str) -> int:
    payload = read_token(CONSENT_LINK_USE, token, max_age_seconds=CONSENT_LINK_DAYS * 86400)
    person_id = selectors.person_id_for_pseudonym(payload.get("p", ""))
    if person_id is None:
        raise TokenError("there is no data about you here any more")
    return person_id


def _language(request: HttpRequest, fallback: str) -> str:
    asked = request.GET.get("lang") or request.POST.get("lang")
    return asked if asked in policy.current().languages else fallback


def _labels(language: str) -> dict[str, str]:
    return {key: p.label.get(language, p.label["en"]) for key, p in policy.current().purposes.items()}


def _bad_link(request: HttpRequest, error: TokenError) -> HttpResponse:
    return render(
        request,
        "public/consent_bad_link.html",
        {"expired": isinstance(error, TokenExpiredError), "message": error.message},
        status=error.status,
    )


def _gone(request: HttpRequest) -> HttpResponse:
    """The person was erased while the request was on its way (an erasure that committed
    first): said as for a link whose person is gone, never a server error."""
    return render(
        request, "public/consent_bad_link.html", {"message": "there is no data about you here any more"}, status=404
    )


@require_http_methods(["GET"])
def consent_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        return _consent_page(request, token)
    except NotFoundError:
        return _gone(request)


def _consent_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        person_id = _person(token)
    except TokenError as error:
        return _bad_link(request, error)
    choices = selectors.own_choices(person_id=person_id)
    language = _language(request, choices["language"])
    gpc_recorded = False
    if getattr(request, "gpc", False):
        # An identified visitor whose browser sends Global Privacy Control: an objection, by
        # automated means (GDPR art. 21(5)), to profiling and to disclosure to partners.
        gpc_recorded = bool(
            services.record_gpc_objection(
                actor=Actor(kind="data_subject", role=None, user_id=None, label="data_subject:gpc"),
                now=timezone.now(),
                person_id=person_id,
                language=language,
                source_ref="consent page",
            )
        )
    with translation.override(language):
        return render(
            request,
            "public/consent_page.html",
            {
                "gpc_recorded": gpc_recorded,
                "token": token,
                "choices": choices,
                "lang": language,
                "given": [(p, _labels(language)[p], renewal_wording(p, language)) for p in choices["given"]],
                "newsletters": marketing_selectors.newsletter_choices(person_id=person_id, language=language),
            },
        )


@csrf_exempt  # reached from an email link without a session; the signed token is the credential
@require_POST
def consent_action(request: HttpRequest, token: str) -> HttpResponse:
    try:
        return _consent_action(request, token)
    except NotFoundError:
        return _gone(request)


def _consent_action(request: HttpRequest, token: str) -> HttpResponse:
    try:
        person_id = _person(token)
    except TokenError as error:
        return _bad_link(request, error)
    choices = selectors.own_choices(person_id=person_id)
    language = _language(request, choices["language"])
    actor = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:link")
    now = timezone.now()
    action = request.POST.get("action", "withdraw")
    with translation.override(language):
        if action == "object":
            recorded = services.object_to_direct_marketing(
                actor=actor,
                now=now,
                person_id=person_id,
                source_kind="email_link",
                language=language,
                evidence_ip=request.META.get("REMOTE_ADDR"),
                evidence_user_agent=request.headers.get("User-Agent", ""),
            )
            return render(
                request, "public/consent_done.html", {"objected": True, "changed": recorded, "lang": language}
            )
        purpose = request.POST.get("purpose") or None
        if purpose is not None and purpose not in policy.current().purposes:
            return render(request, "public/consent_bad_link.html", {"message": "unknown purpose"}, status=422)
        if action == "renew":
            return _renew(request, person_id=person_id, purpose=purpose, language=language, actor=actor, now=now)
        result = services.withdraw_consent(
            actor=actor,
            now=now,
            person_id=person_id,
            source_kind="email_link",
            language=language,
            purpose=purpose,
            evidence_ip=request.META.get("REMOTE_ADDR"),
            evidence_user_agent=request.headers.get("User-Agent", ""),
        )
        if result.erased:
            sharing_tasks.tell_recipients_of_erasure(receipt_id=result.receipt_id)
        labels = _labels(language)
        kept = [(r, labels.get(r.partition(":")[2], r)) for r in result.kept_because]
        return render(
            request,
            "public/consent_done.html",
            {"result": result, "changed": result.changed, "kept": kept, "lang": language},
        )


def renewal_wording(purpose: str, language: str) -> str:
    """The exact statement the person confirms by pressing "Keep it" (recorded with the
    consent, GDPR art. 7(1)), in ``language``."""
    from django.utils.translation import gettext

    current = policy.current()
    with translation.override(language):
        return gettext("Yes, %(controller)s may continue to: %(purpose)s. I can withdraw this at any time.") % {
            "controller": current.controller.name,
            "purpose": _labels(language)[purpose],
        }


def _renew(
    request: HttpRequest, *, person_id: int, purpose: str | None, language: str, actor: Actor, now: Any
) -> HttpResponse:
    """Keep a consent (the renewal email's link, §5 ``[consent_lifetime]``): record it again,
    by the person's own act, on every channel where it is given now."""
    if purpose is None:
        return render(request, "public/consent_bad_link.html", {"message": "purpose: required"}, status=422)
    current = policy.current()
    state = selectors.consent_state(person_id=person_id)
    channels = [
        c
        for (p, c), action in sorted(state.items())
        if p == purpose and action == "given" and current.purposes[p].bases.get(c) == "consent"
    ]
    for channel in channels:
        services.record_consent(
            actor=actor,
            now=now,
            person_id=person_id,
            purpose=purpose,
            channel=channel,
            source_kind="email_link",
            wording=renewal_wording(purpose, language),
            language=language,
            evidence_ip=request.META.get("REMOTE_ADDR"),
            evidence_user_agent=request.headers.get("User-Agent", ""),
        )
    return render(
        request,
        "public/consent_done.html",
        {
            "renew_asked": True,
            "renewed": bool(channels),
            "renewed_label": _labels(language)[purpose],
            "changed": True,
            "lang": language,
        },
    )
