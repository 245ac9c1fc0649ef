"""The JSON API: OpenAPI at /api/openapi.json, interactive docs at /api/docs.

Clients authenticate with ``Authorization: Bearer <token>``; a token acts for a staff user and
with that user's role. Errors are always ``{"code", "message", "field"}`` with a 4xx status.
Endpoints parse input, build the actor, call one service or selector, and render.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from tillit.accounts import services as account_services
from tillit.accounts.selectors import actor_for_token
from tillit.api.schemas import (
    ConsentEventOut,
    ConsentIn,
    ConsentOverviewOut,
    EligibilityOut,
    EmailOut,
    Error,
    ForecastOut,
    ObjectionIn,
    ObjectionOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
    PersonIn,
    PersonOut,
    PersonPage,
    PersonPatch,
    SearchIn,
    WithdrawalOut,
    WithdrawIn,
)
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent_services
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, ValidationError
from tillit.people import selectors as people_selectors
from tillit.people import services as people_services
from tillit.retention import selectors as retention_selectors
from tillit.sharing import tasks as sharing_tasks


class TokenAuth(HttpBearer):
    openapi_description = "An API token (tlt_...) created with `tillit api-client create`."

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        return actor_for_token(token, now=timezone.now())


api = NinjaAPI(
    title="tillit API",
    version="1",
    description="The customer system of Avara AS. Every read names a purpose and is audited.",
    auth=TokenAuth(),
    urls_namespace="api",
)

ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


def _error(request: HttpRequest, status: int, code: str, message: str, field: str | None = None) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, "field": field}, status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    actor = getattr(request, "auth", None)
    if error.status == 403 and isinstance(actor, Actor):
        where = request.resolver_match.view_name if request.resolver_match else request.path
        account_services.record_refusal(actor=actor, now=timezone.now(), where=where)
    return _error(request, error.status, error.code, error.message, error.field)


@api.exception_handler(NinjaValidationError)
def validation_error(request: HttpRequest, error: NinjaValidationError) -> HttpResponse:
    first = error.errors[0] if error.errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "payload", "query", "path")]
    field = ".".join(location) or None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "is required"
    elif kind == "json_invalid":
        message = "the body is not valid JSON"
    else:
        message = str(first.get("msg", "invalid input"))
    return _error(request, 422, "invalid", message, field)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthorized", "a valid API token is required (Authorization: Bearer ...)")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "error")
    message = "the body is not valid JSON" if "parse request body" in str(error) else str(error)
    return _error(request, error.status_code, code, message)


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


def _refuse_search_terms_in_the_url(request: HttpRequest, path: str) -> None:
    """A search term in the query string would stay in every access log after the person is
    erased (DESIGN.md rule 10); the search is a POST with the term in the body."""
    if "q" in request.GET:
        raise ValidationError(f"search terms go in the body of POST {path}, never in the URL", field="q")


@api.get("/people", response={200: PersonPage, **ERRORS}, tags=["people"], exclude_unset=True)
def list_people(request: HttpRequest, purpose: str | None = None, page: int = 1, page_size: int = 25) -> dict[str, Any]:
    """Everyone, newest first, in the fields your role may see for ``purpose`` (default: your
    role's first purpose). To search, use ``POST /api/people/search``: a term in the URL is
    refused (422)."""
    _refuse_search_terms_in_the_url(request, "/api/people/search")
    result = people_selectors.search_people(
        actor=_actor(request), now=timezone.now(), purpose=purpose, page=page, page_size=page_size
    )
    return {"items": result.items, "page": result.page, "page_size": result.page_size, "has_next": result.has_next}


@api.post("/people/search", response={200: PersonPage, **ERRORS}, tags=["people"], exclude_unset=True)
def search_people(request: HttpRequest, payload: SearchIn) -> dict[str, Any]:
    """Search people by name, email, phone or organisation, in the fields your role may see
    for ``purpose``. The term is in the body, so no access log keeps it."""
    result = people_selectors.search_people(
        actor=_actor(request),
        now=timezone.now(),
        purpose=payload.purpose,
        query=payload.q,
        page=payload.page,
        page_size=payload.page_size,
    )
    return {"items": result.items, "page": result.page, "page_size": result.page_size, "has_next": result.has_next}


@api.post("/people", response={201: PersonOut, **ERRORS}, tags=["people"], exclude_unset=True)
def create_person(request: HttpRequest, payload: PersonIn, purpose: str | None = None) -> Status[dict[str, Any]]:
    """Register a person. The email is normalised and must be unique; the phone is stored in
    E.164. Every field set gets its provenance (``source``)."""
    actor, now = _actor(request), timezone.now()
    values = payload.model_dump(exclude_unset=True, exclude={"source"})
    person = people_services.create_person(actor=actor, now=now, source=payload.source, values=values, purpose=purpose)
    return Status(201, people_selectors.get_person(actor=actor, now=now, person_id=person.pk, purpose=purpose))


@api.get("/people/{person_id}", response={200: PersonOut, **ERRORS}, tags=["people"], exclude_unset=True)
def get_person(request: HttpRequest, person_id: int, purpose: str | None = None) -> dict[str, Any]:
    """One person, with only the fields your role may see for ``purpose``."""
    return people_selectors.get_person(actor=_actor(request), now=timezone.now(), person_id=person_id, purpose=purpose)


@api.patch("/people/{person_id}", response={200: PersonOut, **ERRORS}, tags=["people"], exclude_unset=True)
def update_person(
    request: HttpRequest, person_id: int, payload: PersonPatch, purpose: str | None = None
) -> dict[str, Any]:
    """Correct a person's data (rectification). Only the fields sent change."""
    actor, now = _actor(request), timezone.now()
    changes = payload.model_dump(exclude_unset=True, exclude={"source"})
    people_services.update_person(
        actor=actor, now=now, person_id=person_id, source=payload.source, changes=changes, purpose=purpose
    )
    return people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)


@api.get("/organizations", response={200: OrganizationPage, **ERRORS}, tags=["organizations"], exclude_unset=True)
def list_organizations(
    request: HttpRequest, purpose: str | None = None, page: int = 1, page_size: int = 25
) -> dict[str, Any]:
    """Every organisation, by name. To search, use ``POST /api/organizations/search`` (a sole
    proprietorship's name is a person's name)."""
    _refuse_search_terms_in_the_url(request, "/api/organizations/search")
    result = people_selectors.search_organizations(
        actor=_actor(request), now=timezone.now(), purpose=purpose, page=page, page_size=page_size
    )
    return {"items": result.items, "page": result.page, "page_size": result.page_size, "has_next": result.has_next}


@api.post(
    "/organizations/search", response={200: OrganizationPage, **ERRORS}, tags=["organizations"], exclude_unset=True
)
def search_organizations(request: HttpRequest, payload: SearchIn) -> dict[str, Any]:
    """Search organisations by name or organisation number (the term in the body)."""
    result = people_selectors.search_organizations(
        actor=_actor(request),
        now=timezone.now(),
        purpose=payload.purpose,
        query=payload.q,
        page=payload.page,
        page_size=payload.page_size,
    )
    return {"items": result.items, "page": result.page, "page_size": result.page_size, "has_next": result.has_next}


@api.post("/organizations", response={201: OrganizationOut, **ERRORS}, tags=["organizations"], exclude_unset=True)
def create_organization(
    request: HttpRequest, payload: OrganizationIn, purpose: str | None = None
) -> Status[dict[str, Any]]:
    """Register an organisation; a Norwegian organisation number is checked (mod 11)."""
    actor, now = _actor(request), timezone.now()
    values = payload.model_dump(exclude_unset=True, exclude={"source"})
    organization = people_services.create_organization(
        actor=actor, now=now, source=payload.source, values=values, purpose=purpose
    )
    return Status(
        201, people_selectors.get_organization(actor=actor, now=now, organization_id=organization.pk, purpose=purpose)
    )


@api.get(
    "/organizations/{organization_id}",
    response={200: OrganizationOut, **ERRORS},
    tags=["organizations"],
    exclude_unset=True,
)
def get_organization(request: HttpRequest, organization_id: int, purpose: str | None = None) -> dict[str, Any]:
    """One organisation."""
    return people_selectors.get_organization(
        actor=_actor(request), now=timezone.now(), organization_id=organization_id, purpose=purpose
    )


@api.patch(
    "/organizations/{organization_id}",
    response={200: OrganizationOut, **ERRORS},
    tags=["organizations"],
    exclude_unset=True,
)
def update_organization(
    request: HttpRequest, organization_id: int, payload: OrganizationPatch, purpose: str | None = None
) -> dict[str, Any]:
    """Correct an organisation's data. Only the fields sent change."""
    actor, now = _actor(request), timezone.now()
    changes = payload.model_dump(exclude_unset=True, exclude={"source"})
    people_services.update_organization(
        actor=actor, now=now, organization_id=organization_id, source=payload.source, changes=changes, purpose=purpose
    )
    return people_selectors.get_organization(actor=actor, now=now, organization_id=organization_id, purpose=purpose)


@api.get("/retention/forecast", response={200: ForecastOut, **ERRORS}, tags=["retention"])
def retention_forecast(request: HttpRequest, months: int = 24) -> dict[str, Any]:
    """How many people reach their retention deadline in each of the next ``months`` months,
    per reason (§9), with those already past it and those without a deadline. No personal
    data; for the roles the policy gives the retention forecast."""
    result = retention_selectors.forecast_for(actor=_actor(request), now=timezone.now(), months=months)
    return {
        "months": [m.isoformat()[:7] for m in result.months],
        "series": [{"reason": reason, "counts": result.counts[reason]} for reason in result.reasons],
        "overdue": result.overdue,
        "without_deadline": result.without_deadline,
    }


@api.get("/people/{person_id}/consents", response={200: ConsentOverviewOut, **ERRORS}, tags=["consent"])
def list_consents(request: HttpRequest, person_id: int, purpose: str | None = None) -> dict[str, Any]:
    """The person's consents: the current state per purpose and channel, derived from the
    append-only ledger, and every ledger entry with its wording and notice version."""
    return consent_selectors.consent_overview(
        actor=_actor(request), now=timezone.now(), person_id=person_id, purpose=purpose
    )


@api.post("/people/{person_id}/consents", response={201: ConsentEventOut, **ERRORS}, tags=["consent"])
def record_consent(request: HttpRequest, person_id: int, payload: ConsentIn) -> Status[dict[str, Any]]:
    """Record a consent the person gave by a positive act, with the exact wording shown."""
    event = consent_services.record_consent(
        actor=_actor(request), now=timezone.now(), person_id=person_id, **payload.model_dump()
    )
    return Status(
        201,
        {
            "id": event.pk,
            "purpose": event.purpose,
            "channel": event.channel,
            "action": event.action,
            "basis": event.basis,
            "occurred_at": event.occurred_at,
            "source_kind": event.source_kind,
            "source_ref": event.source_ref,
            "wording": event.wording,
            "language": event.language,
            "notice_version": event.notice_version_id,
        },
    )


@api.post("/people/{person_id}/consents/withdraw", response={200: WithdrawalOut, **ERRORS}, tags=["consent"])
def withdraw_consent(request: HttpRequest, person_id: int, payload: WithdrawIn) -> dict[str, Any]:
    """Withdraw consent for one purpose or all. Per §5 the person's data is then erased unless
    another ground still holds; the answer says which. A second withdrawal changes nothing."""
    result = consent_services.withdraw_consent(
        actor=_actor(request), now=timezone.now(), person_id=person_id, **payload.model_dump()
    )
    if not result.changed:
        message = "nothing to withdraw: no consent is given"
    elif result.erased:
        sharing_tasks.tell_recipients_of_erasure(receipt_id=result.receipt_id)
        message = "consent withdrawn; the person's data was erased (privacy policy §5)"
    else:
        message = "consent withdrawn; the person is kept for: " + ", ".join(result.kept_because)
    return {
        "withdrawn": [list(pair) for pair in result.withdrawn],
        "erased": result.erased,
        "kept_because": result.kept_because,
        "message": message,
    }


@api.post("/people/{person_id}/objection", response={200: ObjectionOut, **ERRORS}, tags=["consent"])
def object_to_direct_marketing(
    request: HttpRequest, person_id: int, payload: ObjectionIn, purpose: str | None = None
) -> dict[str, Any]:
    """Record an objection to direct marketing (GDPR art. 21) the person made to you directly,
    e.g. during a call: email, phone and profiling stop at once, the address and number go on
    the suppression list, and no call list or campaign in progress reaches them any more. Every
    role that talks to people may record it; ``purpose`` is the one you are working for."""
    actor, now = _actor(request), timezone.now()
    people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    taken = consent_services.take_objection_to_direct_marketing(
        actor=actor, now=now, person_id=person_id, **payload.model_dump()
    )
    return {
        "recorded": taken.recorded,
        "message": "objection recorded" if taken.recorded else "already objected; nothing changed",
        "objected_at": taken.objected_at,
        "contact_channel": payload.contact_channel,
    }


@api.get("/people/{person_id}/eligibility", response={200: EligibilityOut, **ERRORS}, tags=["consent"])
def eligibility(request: HttpRequest, person_id: int, purpose: str, channel: str, products: str = "") -> dict[str, Any]:
    """May we contact this person for ``purpose`` on ``channel`` now, and on which basis?
    ``products``: comma-separated product or category keys of the policy the contact markets
    (the existing-customer exception holds only for products similar to what they bought)."""
    people_selectors.get_person(actor=_actor(request), now=timezone.now(), person_id=person_id)
    answer = consent_selectors.eligibility(
        person_id=person_id,
        purpose=purpose,
        channel=channel,
        products=[key.strip() for key in products.split(",") if key.strip()],
    )
    return {
        "purpose": purpose,
        "channel": channel,
        "allowed": answer.allowed,
        "basis": answer.basis,
        "reason": answer.reason,
        "order": answer.order,
    }


@api.post(
    "/emails",
    response={201: EmailOut, **ERRORS},
    tags=["emails"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The raw email (RFC 822), as saved or forwarded from a mailbox.",
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def record_email(request: HttpRequest, purpose: str | None = None) -> Status[dict[str, Any]]:
    """Put a raw email (``Content-Type: message/rfc822``) on the timeline of the people it
    matches by email address (privacy policy §16): the sender of an inbound email (which counts
    as contact, §9), the recipients of one sent from our own domain (which does not). Subject,
    body text and the attachments' names are kept, never their content; text that looks like
    sensitive personal data is held back for the privacy officer. A malformed email, or one
    that matches nobody, is 422 with the reason and nothing is stored."""
    result = people_services.record_email_message(
        actor=_actor(request), now=timezone.now(), raw=request.body, purpose=purpose
    )
    return Status(
        201,
        {
            "direction": result.direction,
            "person_ids": list(result.person_ids),
            "interaction_ids": list(result.interaction_ids),
            "unmatched_addresses": result.unmatched_addresses,
            "quarantined": result.quarantined,
        },
    )


# Data subject requests: the request desk of the privacy officer (policy §13). Appended as one
# block, with its own imports.
from tillit.api.schemas import RightsRequestDetailOut, RightsRequestPage  # noqa: E402
from tillit.rights import selectors as rights_selectors  # noqa: E402


@api.get("/rights/requests", response={200: RightsRequestPage, **ERRORS}, tags=["rights"])
def list_rights_requests(
    request: HttpRequest, which: str = "open", page: int = 1, page_size: int = 50
) -> dict[str, Any]:
    """Data subject requests with their legal due date and deadline state (``which``: open,
    attention, closed or all), the nearest deadline first. For the roles with the request desk."""
    result = rights_selectors.desk_requests(
        actor=_actor(request), now=timezone.now(), which=which, page=page, page_size=page_size
    )
    return {"items": result.items, "page": result.page, "page_size": result.page_size, "has_next": result.has_next}


@api.get("/rights/requests/{request_id}", response={200: RightsRequestDetailOut, **ERRORS}, tags=["rights"])
def get_rights_request(request: HttpRequest, request_id: int) -> dict[str, Any]:
    """One data subject request with its full history, corrections and signed documents."""
    return rights_selectors.desk_request(actor=_actor(request), now=timezone.now(), request_id=request_id)


# Orders and services (capture, policy §4, §9): their own router.
from tillit.api.capture import router as capture_router  # noqa: E402

api.add_router("/", capture_router)

# Marketing (policy §8): bounce and complaint notices, campaign progress; its own router.
from tillit.api.marketing import router as marketing_router  # noqa: E402

api.add_router("/", marketing_router)

# Sharing (policy §11, §12; GDPR art. 19, 30): partners, dialogues, disclosures; its own router.
from tillit.api.sharing import router as sharing_router  # noqa: E402

api.add_router("/", sharing_router)

# A person's dialogues with us (policy §7, §11): open, close, list; its own router.
from tillit.api.dialogues import router as dialogues_router  # noqa: E402

api.add_router("/", dialogues_router)

# The breach register (GDPR art. 33-34): its own router, same error handling.
from tillit.api.incidents import router as incidents_router  # noqa: E402

api.add_router("/", incidents_router)
