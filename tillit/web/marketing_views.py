"""Newsletters, campaigns (write, preview per language, audience count, send, progress) and
the phone call list (with its CSV export and calls logged from it). Lists and campaigns are
for the roles that see email and choices for a marketing purpose; the call list for roles
that see phone numbers for a purpose that may call on legitimate interest (§10)."""

from __future__ import annotations

import csv
import uuid
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, ValidationError
from tillit.marketing import selectors, services
from tillit.web.views import staff_view

# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> str:
    """A value for a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _texts(post: Any, prefix: str) -> dict[str, str]:
    return {lang: post.get(f"{prefix}_{lang}", "") for lang in policy.current().languages}


def _purpose_labels(language: str) -> dict[str, str]:
    return {key: p.label.get(language, p.label["en"]) for key, p in policy.current().purposes.items()}


def _language(request: HttpRequest) -> str:
    code = (getattr(request, "LANGUAGE_CODE", "") or "en")[:2]
    return code if code in policy.current().languages else policy.current().default_language


@staff_view
def newsletters(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_may_run_campaigns(actor)
    error: DomainError | None = None
    if request.method == "POST":
        try:
            services.create_newsletter(
                actor=actor,
                now=timezone.now(),
                key=request.POST.get("key", ""),
                name=_texts(request.POST, "name"),
                description=_texts(request.POST, "description"),
                purpose=request.POST.get("purpose") or "newsletter",
            )
        except ValidationError as caught:
            error = caught
        else:
            messages.success(request, _("The newsletter is created."))
            return HttpResponseRedirect(reverse("web:newsletters"))
    language = _language(request)
    labels = _purpose_labels(language)
    return render(
        request,
        "web/newsletters.html",
        {
            "lists": [
                (n, selectors.label(n.name, language), labels.get(n.purpose, n.purpose))
                for n in selectors.newsletters()
            ],
            "languages": policy.current().languages,
            "purposes": [
                (p, labels[p])
                for p in selectors.campaign_purposes()
                if policy.current().purposes[p].bases.get("email") == "consent"
            ],
            "values": request.POST,
            "error": error,
        },
        status=422 if error else 200,
    )


@staff_view
def campaigns(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_may_run_campaigns(actor)
    return render(request, "web/campaigns.html", {"campaigns": selectors.campaigns()})


def _campaign_values(post: Any) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "newsletter": post.get("newsletter", ""),
        "purpose": post.get("purpose", ""),
        "interest": post.get("interest", ""),
        "products": post.getlist("products"),
        "subjects": _texts(post, "subject"),
        "bodies_text": _texts(post, "text"),
        "bodies_html": _texts(post, "html"),
    }


def _form_context(request: HttpRequest, values: dict[str, Any]) -> dict[str, Any]:
    language = _language(request)
    labels = _purpose_labels(language)
    return {
        "values": values,
        "by_language": [
            {
                "lang": lang,
                "subject": values.get(f"subject_{lang}", ""),
                "text": values.get(f"text_{lang}", ""),
                "html": values.get(f"html_{lang}", ""),
            }
            for lang in policy.current().languages
        ],
        "lists": [(n.key, selectors.label(n.name, language)) for n in selectors.newsletters()],
        "purposes": [(p, labels[p]) for p in selectors.campaign_purposes() if p != "newsletter"],
        "product_choices": _product_choices(language),
        "chosen_products": request.POST.getlist("products") if request.method == "POST" else values.get("products", []),
    }


def _product_choices(language: str) -> list[tuple[str, str]]:
    """The product categories and products of the policy a campaign may say it markets."""
    current = policy.current()
    choices = [(key, selectors.label(dict(c.label), language)) for key, c in current.product_categories.items()]
    return choices + [(key, p.name) for key, p in current.products.items()]


def _values_of(item: Any) -> dict[str, Any]:
    return {
        "name": item.name,
        "newsletter": item.newsletter.key if item.newsletter else "",
        "purpose": item.purpose,
        "interest": item.interest,
        "products": list(item.products or []),
        **{f"subject_{k}": v for k, v in item.subjects.items()},
        **{f"text_{k}": v for k, v in item.bodies_text.items()},
        **{f"html_{k}": v for k, v in item.bodies_html.items()},
    }


@staff_view
def campaign_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_may_run_campaigns(actor)
    if request.method == "POST":
        try:
            item = services.create_campaign(actor=actor, now=timezone.now(), values=_campaign_values(request.POST))
        except ValidationError as error:
            context = {**_form_context(request, dict(request.POST.items())), "error": error}
            return render(request, "web/campaign_new.html", context, status=422)
        return HttpResponseRedirect(reverse("web:campaign", args=[item.pk]))
    return render(request, "web/campaign_new.html", _form_context(request, {}))


def _preview(item: Any) -> list[dict[str, Any]]:
    """The message as a recipient in each language gets it (a made-up recipient)."""
    previews = []
    for language, template in services.templates_for(item).items():
        message = template.message(
            email="recipient@example.com",
            name=_("Recipient"),
            pseudonym=str(uuid.UUID(int=0)),
            message_id="<preview@example.com>",
        )
        headers = [
            (k, v)
            for k, v in message.message().items()
            if k in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id")
        ]
        html = next((content for content, mimetype in message.alternatives if mimetype == "text/html"), "")
        previews.append({"language": language, "headers": headers, "text": message.body, "html": html})
    return previews


@staff_view
def campaign_detail(request: HttpRequest, actor: Actor, campaign_id: int) -> HttpResponse:
    selectors.check_may_run_campaigns(actor)
    item = selectors.campaign(campaign_id)
    error: DomainError | None = None
    values = _values_of(item)
    if request.method == "POST":
        values = dict(request.POST.items())
        try:
            item = services.update_campaign(
                actor=actor, now=timezone.now(), campaign_id=campaign_id, values=_campaign_values(request.POST)
            )
        except ValidationError as caught:
            error = caught
        else:
            messages.success(request, _("The campaign is saved."))
            return HttpResponseRedirect(reverse("web:campaign", args=[campaign_id]))
    context = {
        **_form_context(request, values),
        "campaign": item,
        "error": error,
        "previews": _preview(item),
        "count": selectors.audience_count(actor=actor, campaign_id=campaign_id) if item.status == "draft" else None,
        "progress": selectors.progress(actor=actor, campaign_id=campaign_id),
        "now": timezone.now(),
    }
    return render(request, "web/campaign.html", context, status=422 if error else 200)


@staff_view
@require_POST
def campaign_send(request: HttpRequest, actor: Actor, campaign_id: int) -> HttpResponse:
    try:
        count = services.start_campaign(actor=actor, now=timezone.now(), campaign_id=campaign_id)
    except ValidationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Sending to %(count)d people has started.") % {"count": count})
    return HttpResponseRedirect(reverse("web:campaign", args=[campaign_id]))


@staff_view
@require_POST
def campaign_resume(request: HttpRequest, actor: Actor, campaign_id: int) -> HttpResponse:
    left = services.resume_campaign(actor=actor, now=timezone.now(), campaign_id=campaign_id)
    messages.success(request, _("Sending resumed: %(count)d messages left.") % {"count": left})
    return HttpResponseRedirect(reverse("web:campaign", args=[campaign_id]))


@staff_view
@require_GET
def campaign_progress(request: HttpRequest, actor: Actor, campaign_id: int) -> HttpResponse:
    """The progress box, polled by htmx while the campaign is being sent."""
    progress = selectors.progress(actor=actor, campaign_id=campaign_id)
    return render(
        request,
        "web/campaign_progress.html",
        {"campaign": selectors.campaign(campaign_id), "progress": progress, "now": timezone.now()},
    )


@staff_view
@require_GET
def call_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    purpose = selectors.checked_call_purpose(actor, request.GET.get("purpose") or None)
    now = timezone.now()
    page = selectors.call_list(actor=actor, now=now, purpose=purpose, page=page_number)
    labels = _purpose_labels(_language(request))
    calling = selectors.calling_status(purpose=purpose, now=now)
    checked = selectors.numbers_checked([p["id"] for p in page.items]) if calling.applies else set()
    return render(
        request,
        "web/call_list.html",
        {
            "page": page,
            "purpose": purpose,
            "purposes": [(p, labels[p]) for p in selectors.call_purposes(actor)],
            "calling": calling,
            "checked": checked,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@staff_view
@require_GET
def call_list_export(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The call list as CSV, read through the gate page by page (every person audited as
    exported); cells a spreadsheet would run as a formula are neutralised."""
    purpose = selectors.checked_call_purpose(actor, request.GET.get("purpose") or None)
    rows = selectors.call_list_rows(actor=actor, now=timezone.now(), purpose=purpose)
    columns = ["id", "name", "phone", "email", "position", "organization"]
    writer = csv.writer(_Echo())

    def lines() -> Any:
        yield writer.writerow(columns)
        for row in rows:
            organization = row.get("organization") or {}
            values = {**row, "organization": organization.get("name", "")}
            yield writer.writerow([csv_cell(values.get(c, "")) for c in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="call-list-{purpose}.csv"'
    return cast(HttpResponse, response)  # streamed: bounded memory whatever the list's size


@staff_view
@require_http_methods(["POST"])
def call_log(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """A call made from the call list, on the person's timeline."""
    purpose = request.POST.get("purpose") or None
    try:
        services.log_call(
            actor=actor,
            now=timezone.now(),
            person_id=person_id,
            purpose=purpose,
            reached=request.POST.get("reached") == "on",
            summary=request.POST.get("summary", ""),
        )
    except ValidationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The call is logged on the timeline."))
    return HttpResponseRedirect(reverse("web:call-list") + f"?purpose={purpose or ''}")
