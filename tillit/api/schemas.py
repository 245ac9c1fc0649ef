"""Request and response bodies of the JSON API. Unknown fields in a request are refused (422).

Values are checked and normalised by the domain services (so the API, the staff UI and the
CLI give the same answer to the same bad input); these schemas only fix the shape.
"""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field


class Error(Schema):
    code: str = Field(description="A stable, machine-readable error code.")
    message: str = Field(description="What was wrong, for a person to read.")
    field: str | None = Field(None, description="The input field that was wrong, if any.")


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_Strict):
    name: str = Field(max_length=1000)
    email: str | None = Field(None, max_length=1000)
    phone: str | None = Field(None, max_length=100)
    position: str | None = Field(None, max_length=1000)
    organization_id: int | None = None
    language: str | None = None
    source: str = Field("customer_service", description="Where the data came from (a source key of the policy).")


class PersonPatch(_Strict):
    name: str | None = Field(None, max_length=1000)
    email: str | None = Field(None, max_length=1000)
    phone: str | None = Field(None, max_length=100)
    position: str | None = Field(None, max_length=1000)
    organization_id: int | None = None
    language: str | None = None
    source: str = Field("customer_service", description="Where the correction came from.")


class OrganizationOut(Schema):
    purpose: str | None = None
    id: int
    name: str | None = None
    org_number: str | None = None
    industry_code: str | None = None
    industry_code_version: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None


class MarketingBlockOut(Schema):
    """Marketing to the person is blocked: their objection, or their address or number on the
    suppression list (they asked to be removed before, or mail to them bounced)."""

    since: dt.datetime
    reason: str = Field(description="objected, objection, withdrawal, complaint or bounce.")
    message: str = Field(description="What staff are told, in the language of the request.")


class PersonOut(Schema):
    """A person as your role may see them for ``purpose``: fields you may not see are absent."""

    purpose: str
    id: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    position: str | None = None
    language: str | None = None
    organization: OrganizationOut | None = None
    last_contact_at: dt.datetime | None = None
    retain_until: dt.datetime | None = Field(None, description="Until when the person may be kept (§9).")
    retain_reason: str = Field("", description="Which ground of §9 keeps the person.")
    retain_explanation: str = Field("", description="Why the person is still stored and until when, in words.")
    marketing_blocked: MarketingBlockOut | None = Field(
        None, description="Set when marketing to the person is blocked (shown for one person, not in lists)."
    )


class PersonPage(Schema):
    items: list[PersonOut]
    page: int
    page_size: int
    has_next: bool


class SearchIn(_Strict):
    """A search: the term travels in the body, never in the URL, so that no access log, proxy
    or browser history keeps a name, an email or a phone number after the person is erased."""

    q: str = Field("", max_length=200, description="Name, email, phone or organisation (part of it).")
    purpose: str | None = Field(None, description="The purpose you search for (default: your role's first).")
    page: int = 1
    page_size: int = 25


class OrganizationIn(_Strict):
    name: str = Field(max_length=1000)
    org_number: str | None = Field(None, max_length=100)
    industry_code: str | None = Field(None, max_length=100)
    industry_code_version: str | None = Field(None, max_length=100)
    street: str | None = Field(None, max_length=1000)
    postcode: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=1000)
    country: str | None = Field(None, max_length=100)
    source: str = "customer_service"


class OrganizationPatch(_Strict):
    name: str | None = Field(None, max_length=1000)
    org_number: str | None = Field(None, max_length=100)
    industry_code: str | None = Field(None, max_length=100)
    industry_code_version: str | None = Field(None, max_length=100)
    street: str | None = Field(None, max_length=1000)
    postcode: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=1000)
    country: str | None = Field(None, max_length=100)
    source: str = "customer_service"


class OrganizationPage(Schema):
    items: list[OrganizationOut]
    page: int
    page_size: int
    has_next: bool


class ForecastSeries(Schema):
    reason: str
    counts: list[int]


class ForecastOut(Schema):
    months: list[str] = Field(description="The months, as YYYY-MM, starting with the current one.")
    series: list[ForecastSeries] = Field(description="Per retention reason, people reaching the deadline each month.")
    overdue: int = Field(description="People already past their deadline (the next sweep erases them).")
    without_deadline: int = Field(description="Active customers and subscribers: no deadline while that holds.")


class ConsentIn(_Strict):
    purpose: str = Field(description="A purpose key of the policy, e.g. newsletter.")
    channel: str = Field(description="email, phone or web.")
    wording: str = Field(max_length=5000, description="The exact text the person agreed to.")
    language: str = Field("en", description="The language the wording was shown in (en, sv, nb).")
    source_kind: str = Field("staff", description="form, page, staff, api, email_link, preference_centre, ...")
    source_ref: str = Field("", max_length=300, description="The form id, page URL or other reference.")
    evidence_ip: str | None = Field(None, max_length=64, description="The person's IP address; stored truncated.")
    evidence_user_agent: str = Field("", max_length=1000)


class ConsentEventOut(Schema):
    id: int
    purpose: str
    channel: str
    action: str
    basis: str
    occurred_at: dt.datetime
    source_kind: str
    source_ref: str
    wording: str
    language: str
    notice_version: int


class ConsentStateOut(Schema):
    purpose: str
    channel: str
    action: str


class ConsentOverviewOut(Schema):
    purpose: str
    state: list[ConsentStateOut]
    events: list[ConsentEventOut]


class WithdrawIn(_Strict):
    purpose: str | None = Field(None, description="One purpose, or every purpose when absent.")
    language: str = "en"
    source_kind: str = "staff"
    source_ref: str = Field("", max_length=300)


class WithdrawalOut(Schema):
    withdrawn: list[list[str]] = Field(description="The (purpose, channel) pairs withdrawn now.")
    erased: bool = Field(description="True if the person's data was erased (§5).")
    kept_because: list[str] = Field(description="Why the person is kept, when not erased.")
    message: str


class ObjectionIn(_Strict):
    """An objection to direct marketing the person made to you directly (the notice: "by
    contacting us directly"); it takes effect at once."""

    contact_channel: str = Field(
        "phone", description="How the person told us: phone, email, in_person or letter.", max_length=20
    )
    note: str = Field("", max_length=2000, description="Your note (no sensitive personal data, §16).")
    language: str = "en"


class ObjectionOut(Schema):
    recorded: bool
    message: str
    objected_at: dt.datetime = Field(description="When the objection took effect.")
    contact_channel: str


class EligibilityOut(Schema):
    purpose: str
    channel: str
    allowed: bool
    basis: str | None
    reason: str
    order: str = Field(default="", description="The order the existing-customer exception rests on, if it does.")


class EmailOut(Schema):
    """An email put on the timeline (§16): one interaction per person it matched."""

    direction: str = Field(description="outbound when sent from our own domain, otherwise inbound.")
    person_ids: list[int] = Field(description="The people the email was matched to, by their email address.")
    interaction_ids: list[int] = Field(description="The interactions created, in the order of person_ids.")
    unmatched_addresses: int = Field(description="Addresses (sender or recipients, not ours) matching nobody.")
    quarantined: bool = Field(
        description="The sensitive data guard held the text back for the privacy officer; the timeline shows a "
        "placeholder (§16: sensitive personal data should not be sent by email)."
    )


# --- data subject requests (the request desk, policy §13) ---------------------------------


class RightsRequestOut(Schema):
    id: int
    reference: str = Field(description="The public reference of the request (no personal data).")
    kind: str = Field(description="access, portability, rectification, erasure, withdrawal or objection.")
    status: str = Field(
        description="received, awaiting_verification, verified, in_progress, completed, refused, expired."
    )
    channel: str = Field(description="portal, phone, letter or email.")
    language: str
    received_at: dt.datetime
    due_on: dt.date = Field(description="The legal due date: one month from receipt (§13, GDPR art. 12(3)).")
    extended_until: dt.date | None = None
    deadline: dt.date = Field(description="The due date in force (extended or not).")
    deadline_state: str = Field(description="on_time, due_soon (D-7), urgent (D-2), overdue or closed.")
    is_matched: bool = Field(description="Whether the request concerns a person we hold (or held).")
    staff_step_reason: str = Field(description="Why the request waits for the privacy officer, if it does.")
    verified_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None


class RightsRequestPage(Schema):
    items: list[RightsRequestOut]
    page: int
    page_size: int
    has_next: bool


class RightsEventOut(Schema):
    kind: str
    at: dt.datetime
    actor: str
    note: str


class RightsCorrectionOut(Schema):
    id: int
    field: str
    proposed_value: str = Field(description="Kept only until the correction is decided.")
    status: str
    decided_at: dt.datetime | None = None
    reason: str


class RightsDocumentOut(Schema):
    id: int
    uploaded_at: dt.datetime
    size: int
    sha256: str
    result: str = Field(description="signed, not_signed, tampered or unreadable.")
    signer_subject: str
    signed_at: dt.datetime | None = None
    is_trusted: bool


class RightsRequestDetailOut(RightsRequestOut):
    person_id: int | None = Field(None, description="The person, while they exist (open them through /api/people).")
    details: str
    extension_reason: str
    refusal_reason: str
    verification_method: str
    verification_sent_at: dt.datetime | None = None
    outcome: dict[str, object]
    erasure_receipt_id: int | None = None
    may_extend: bool
    events: list[RightsEventOut]
    corrections: list[RightsCorrectionOut]
    documents: list[RightsDocumentOut]
