"""The authorisation matrix: every staff URL and every API operation, for every role of the
policy (and for nobody signed in), answers as the policy says (§10). A route that is not in
the matrix fails the test, so a new page cannot ship without its row."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tillit.people import services as people

pytestmark = pytest.mark.django_db

ROLES = ("marketing", "customer_support", "sales", "privacy_officer", "administrator")
READERS = {"marketing", "customer_support", "sales", "privacy_officer"}
# Sharing: the roles that work for a dialogue's purpose, and the privacy officer (partners tool).
DIALOGUE_ROLES = {"customer_support", "sales"}
PARTNER_ROLES = {"customer_support", "sales", "privacy_officer"}


def expect(ok: set[str] | str, status: int = 200, denied: int = 403) -> dict[str, int]:
    allowed = set(ROLES) if ok == "all" else ok
    return {role: status if role in allowed else denied for role in ROLES}


# (method, url pattern name or API path) -> role -> status. {p}, {o}, {u} are filled in.
WEB = {
    ("GET", "web:home"): expect("all"),
    ("GET", "web:people"): expect(READERS),
    ("GET", "web:person-new"): expect(READERS),
    ("GET", "web:person"): expect(READERS),
    ("GET", "web:email-upload"): expect(READERS),
    ("POST", "web:person-log"): expect({"customer_support", "sales", "privacy_officer"}, 302),
    ("GET", "web:person-edit"): expect(READERS),
    ("POST", "web:person-dialogue-open"): expect(DIALOGUE_ROLES, 302),
    ("POST", "web:person-dialogue-close"): expect(DIALOGUE_ROLES, 302),
    ("POST", "web:person-end-customer"): expect({"customer_support", "sales"}, 422),
    ("GET", "web:organizations"): expect(READERS),
    ("GET", "web:organization"): expect(READERS),
    ("GET", "web:retention-forecast"): expect({"marketing", "privacy_officer"}),
    ("GET", "web:visit-statistics"): expect({"marketing", "privacy_officer"}),
    ("GET", "web:capture-forms"): expect({"marketing", "sales", "privacy_officer", "administrator"}),
    ("GET", "web:capture-form-new"): expect({"marketing", "sales", "privacy_officer", "administrator"}),
    ("GET", "web:capture-form"): expect({"marketing", "sales", "privacy_officer", "administrator"}, 404),
    ("GET", "web:capture-material-new"): expect({"marketing", "sales", "privacy_officer", "administrator"}),
    ("GET", "web:person-merge"): expect({"customer_support", "sales", "privacy_officer"}),
    ("POST", "web:person-merge-confirm"): expect({"customer_support", "sales", "privacy_officer"}, 404),
    ("POST", "web:mailbox-review"): expect("all", 302),
    ("GET", "web:mailbox-reviews"): expect({"privacy_officer"}),
    ("GET", "web:audit-log"): expect({"privacy_officer"}),
    ("GET", "web:quarantine"): expect({"privacy_officer"}),
    ("GET", "web:quarantine-item"): expect({"privacy_officer"}, 404),
    ("POST", "web:quarantine-decide"): expect({"privacy_officer"}, 404),
    ("GET", "web:staff"): expect({"administrator"}),
    ("POST", "web:offboard"): expect({"administrator"}, 302),
    ("GET", "web:rights-desk"): expect({"privacy_officer"}),
    ("GET", "web:rights-new"): expect({"privacy_officer"}),
    ("GET", "web:rights-request"): expect({"privacy_officer"}, 404),
    ("POST", "web:rights-extend"): expect({"privacy_officer"}, 404),
    ("POST", "web:rights-refuse"): expect({"privacy_officer"}, 422),
    ("POST", "web:rights-complete"): expect({"privacy_officer"}, 404),
    ("POST", "web:rights-verify"): expect({"privacy_officer"}, 404),
    ("POST", "web:rights-lift-restriction"): expect({"privacy_officer"}, 404),
    ("POST", "web:rights-document"): expect({"privacy_officer"}, 422),
    ("POST", "web:rights-correction"): expect({"privacy_officer"}, 422),
    ("GET", "web:newsletters"): expect({"marketing"}),
    ("GET", "web:campaigns"): expect({"marketing"}),
    ("GET", "web:campaign-new"): expect({"marketing"}),
    ("GET", "web:campaign"): expect({"marketing"}, 404),
    ("POST", "web:campaign-send"): expect({"marketing"}, 404),
    ("POST", "web:campaign-resume"): expect({"marketing"}, 404),
    ("GET", "web:campaign-progress"): expect({"marketing"}, 404),
    ("GET", "web:call-list"): expect({"marketing", "customer_support", "sales"}),
    ("GET", "web:call-list-export"): expect({"marketing", "customer_support", "sales"}),
    ("POST", "web:call-log"): expect({"marketing", "customer_support", "sales"}, 404),
    # sharing: partners, dialogues, disclose, notices, records of processing, the verifier, events
    ("GET", "web:partners"): expect(PARTNER_ROLES),
    ("GET", "web:partner"): expect(PARTNER_ROLES, 404),
    ("POST", "web:partner-end"): expect({"privacy_officer"}, 404),
    ("POST", "web:processor-channel"): expect({"privacy_officer"}, 302),
    ("GET", "web:dialogues"): expect(DIALOGUE_ROLES),
    ("GET", "web:dialogue"): expect("all", 404),
    ("POST", "web:dialogue-close"): expect("all", 404),
    ("POST", "web:dialogue-add"): expect("all", 404),
    ("POST", "web:dialogue-remove"): expect("all", 404),
    ("GET", "web:disclose"): expect("all", 404),
    ("POST", "web:delivery-retry"): expect("all", 404),
    ("GET", "web:person-disclosures"): expect(READERS),
    ("GET", "web:notices"): expect({"privacy_officer"}),
    ("POST", "web:notice-ack"): expect({"privacy_officer"}, 404),
    ("GET", "web:records"): expect({"privacy_officer"}),
    ("GET", "web:records-pdf"): expect({"privacy_officer"}),
    ("GET", "web:records-json"): expect({"privacy_officer"}),
    ("GET", "web:verify"): expect({"privacy_officer"}),
    ("GET", "web:verify-run"): expect({"privacy_officer"}, 404),
    ("POST", "web:verify-now"): expect({"privacy_officer"}, 302),
    ("GET", "web:events"): expect(PARTNER_ROLES),
    ("POST", "web:event-attend"): expect(PARTNER_ROLES, 404),
    # the breach register (GDPR art. 33-34): the roles with the breach_register tool
    ("GET", "web:incidents"): expect({"privacy_officer"}),
    ("GET", "web:incident-new"): expect({"privacy_officer"}),
    ("GET", "web:incident"): expect({"privacy_officer"}, 404),
    ("POST", "web:incident-affected"): expect({"privacy_officer"}, 422),
    ("POST", "web:incident-notification"): expect({"privacy_officer"}, 404),
    ("POST", "web:incident-update"): expect({"privacy_officer"}, 404),
    ("POST", "web:incident-no-risk"): expect({"privacy_officer"}, 404),
    ("POST", "web:incident-notices"): expect({"privacy_officer"}, 404),
    ("GET", "web:incident-report"): expect({"privacy_officer"}, 404),
    ("GET", "web:incident-report-pdf"): expect({"privacy_officer"}, 404),
    # Last: an objection stops the marketing purposes (issue 15, item 2: every role that talks
    # to people may take one).
    ("POST", "web:person-objection"): expect(READERS, 302),
}
# Pages anyone may open (the sign-in itself, language switch).
PUBLIC = {"web:login", "web:enrol", "web:logout", "set_language"}

API = {
    ("GET", "/api/people"): expect(READERS),
    ("POST", "/api/people"): expect(READERS, 201),
    ("POST", "/api/people/search"): expect(READERS),
    ("GET", "/api/people/{person_id}"): expect(READERS),
    ("PATCH", "/api/people/{person_id}"): expect(READERS),
    ("GET", "/api/organizations"): expect(READERS),
    ("POST", "/api/organizations"): expect(READERS, 201),
    ("POST", "/api/organizations/search"): expect(READERS),
    ("GET", "/api/organizations/{organization_id}"): expect(READERS),
    ("PATCH", "/api/organizations/{organization_id}"): expect(READERS),
    ("GET", "/api/retention/forecast"): expect({"marketing", "privacy_officer"}),
    ("GET", "/api/people/{person_id}/consents"): expect({"privacy_officer"}),
    ("POST", "/api/people/{person_id}/consents"): expect({"marketing", "privacy_officer"}, 201),
    ("POST", "/api/people/{person_id}/consents/withdraw"): expect({"marketing", "privacy_officer"}),
    ("GET", "/api/people/{person_id}/eligibility?purpose=newsletter&channel=email"): expect(READERS),
    ("GET", "/api/people/{person_id}/dialogues"): expect(READERS),
    ("POST", "/api/people/{person_id}/dialogues"): expect(DIALOGUE_ROLES, 201),
    ("POST", "/api/people/{person_id}/dialogues/{kind}/close"): expect(DIALOGUE_ROLES),
    ("POST", "/api/emails"): expect({"customer_support", "sales", "privacy_officer"}, 201),
    ("GET", "/api/rights/requests"): expect({"privacy_officer"}),
    ("POST", "/api/people/{person_id}/orders"): expect({"customer_support", "sales"}, 201),
    ("POST", "/api/people/{person_id}/services"): expect({"customer_support", "sales"}, 201),
    ("POST", "/api/services/{service_id}/cancel"): expect({"customer_support", "sales"}, 404),
    # 200: the order above started a customer relationship.
    ("POST", "/api/people/{person_id}/customer-relationship/end"): expect({"customer_support", "sales"}),
    ("GET", "/api/rights/requests/{request_id}"): expect({"privacy_officer"}, 404),
    ("POST", "/api/marketing/delivery-notices"): expect({"marketing"}, 422),
    ("GET", "/api/marketing/campaigns/{campaign_id}/progress"): expect({"marketing"}, 404),
    ("GET", "/api/partners"): expect(PARTNER_ROLES),
    ("POST", "/api/partners"): expect({"privacy_officer"}, 201),
    ("GET", "/api/dialogues"): expect(DIALOGUE_ROLES),
    ("POST", "/api/dialogues"): expect(DIALOGUE_ROLES, 404),
    ("POST", "/api/dialogues/{dialogue_id}/close"): expect("all", 404),
    ("POST", "/api/dialogues/{dialogue_id}/people"): expect("all", 404),
    ("POST", "/api/dialogues/{dialogue_id}/disclosures"): expect("all", 404),
    ("GET", "/api/people/{person_id}/disclosures"): expect(READERS),
    ("GET", "/api/notices"): expect({"privacy_officer"}),
    ("GET", "/api/records-of-processing"): expect({"privacy_officer"}),
    ("GET", "/api/verify/runs"): expect({"privacy_officer"}),
    ("GET", "/api/verify/runs/latest"): expect({"privacy_officer"}, 404),
    ("GET", "/api/incidents"): expect({"privacy_officer"}),
    ("POST", "/api/incidents"): expect({"privacy_officer"}, 201),
    ("GET", "/api/incidents/{incident_id}"): expect({"privacy_officer"}, 404),
    ("POST", "/api/incidents/{incident_id}/affected"): expect({"privacy_officer"}, 404),
    ("POST", "/api/incidents/{incident_id}/notification"): expect({"privacy_officer"}, 404),
    ("POST", "/api/incidents/{incident_id}/updates"): expect({"privacy_officer"}, 404),
    ("POST", "/api/incidents/{incident_id}/no-risk"): expect({"privacy_officer"}, 404),
    ("POST", "/api/incidents/{incident_id}/notices"): expect({"privacy_officer"}, 404),
    # Last: the objection stops the marketing purposes, so reads for them answer 404 after it.
    # Every role that talks to people may take an objection by phone (issue 15, item 2).
    ("POST", "/api/people/{person_id}/objection"): expect(READERS),
}
API_BODIES = {
    ("POST", "/api/incidents"): {
        "title": "Matrix breach",
        "description": "A test breach.",
        "aware_at": "2026-11-01T10:00:00Z",
        "categories": ["name"],
        "approximate_people": 1,
        "consequences": "None.",
        "measures": "None.",
    },
    ("POST", "/api/incidents/{incident_id}/affected"): {"kind": "export", "export_id": 1},
    ("POST", "/api/incidents/{incident_id}/updates"): {"text": "More found."},
    ("POST", "/api/incidents/{incident_id}/no-risk"): {"reason": "Encrypted."},
    ("POST", "/api/incidents/{incident_id}/notification"): {"notified_at": "2026-11-02T10:00:00Z", "reference": "M"},
    ("POST", "/api/partners"): {
        "key": "matrix",
        "name": "Matrix Partner AS",
        "contact_email": "privacy@matrix.example.com",
        "agreement_reference": "DPA-1",
        "agreement_dated": "2026-01-15",
    },
    ("POST", "/api/dialogues"): {"partner_id": 424242, "kind": "sales", "title": "Matrix"},
    ("POST", "/api/dialogues/{dialogue_id}/close"): {},
    ("POST", "/api/dialogues/{dialogue_id}/people"): {"person_ids": [1]},
    ("POST", "/api/dialogues/{dialogue_id}/disclosures"): {"fields": ["name"], "channel": "json"},
    ("POST", "/api/people/{person_id}/orders"): {
        "number": "M-1",
        "currency": "NOK",
        "lines": [{"product": "Engine", "quantity": 1, "unit_price": "100.00"}],
    },
    ("POST", "/api/people/{person_id}/services"): {"product": "Service plan"},
    ("POST", "/api/services/{service_id}/cancel"): {},
    ("POST", "/api/people/{person_id}/customer-relationship/end"): {"reason": "other"},
    ("POST", "/api/people"): {"name": "Matrix Person"},
    ("POST", "/api/people/search"): {"q": "Matrix"},
    ("POST", "/api/organizations/search"): {"q": "Matrix"},
    ("PATCH", "/api/people/{person_id}"): {"name": "Matrix Person"},
    ("POST", "/api/organizations"): {"name": "Matrix AS"},
    ("PATCH", "/api/organizations/{organization_id}"): {"name": "Matrix AS"},
    ("POST", "/api/people/{person_id}/consents"): {
        "purpose": "newsletter",
        "channel": "email",
        "wording": "Yes, send me the newsletter.",
    },
    ("POST", "/api/people/{person_id}/consents/withdraw"): {"purpose": "direct_marketing"},
    ("POST", "/api/people/{person_id}/objection"): {},
    ("POST", "/api/people/{person_id}/dialogues"): {"kind": "sales"},
    ("POST", "/api/emails"): (
        b"From: Matrix Person <matrix.person@example.com>\r\nTo: sales@avara.no\r\nSubject: Offer\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <m1@example.com>\r\n\r\nPlease send the offer.\r\n"
    ),
}


def web_routes() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list, namespace: str = "") -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "api":
                    continue
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                names.add(namespace + p.name)

    walk(get_resolver().url_patterns)
    return names


@pytest.fixture
def records(system_actor, now, make_staff):
    org = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Matrix Org AS"})
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Matrix Person", "email": "matrix.person@example.com", "organization_id": org.pk},
    )
    leaver = make_staff("sales", username="leaver")
    colleague = make_staff("sales", username="colleague")
    return {"p": person.pk, "o": org.pk, "u": leaver.pk, "successor": colleague.pk}


def test_every_staff_route_is_in_the_matrix():
    """Pages for data subjects (the public and consent namespaces) need no sign-in by design;
    every other route is a staff route and must have its row."""
    staff = {
        name for name in web_routes() - PUBLIC if not name.startswith(("public:", "consent:", "rights:", "capture:"))
    }
    assert staff == {name for _, name in WEB}


def test_every_api_operation_is_in_the_matrix():
    schema = Client().get("/api/openapi.json").json()
    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert operations == {(method, path.partition("?")[0]) for method, path in API}


def web_url(name: str, ids: dict[str, int]) -> str:
    from django.urls import reverse

    args = {
        "web:person": [ids["p"]],
        "web:person-log": [ids["p"]],
        "web:person-objection": [ids["p"]],
        "web:person-edit": [ids["p"]],
        "web:person-dialogue-open": [ids["p"], "sales"],
        "web:person-dialogue-close": [ids["p"], "sales"],
        "web:person-end-customer": [ids["p"]],
        "web:organization": [ids["o"]],
        "web:offboard": [ids["u"]],
        "web:quarantine-item": [424242],
        "web:quarantine-decide": [424242],
        "web:rights-request": [424242],
        "web:rights-extend": [424242],
        "web:rights-refuse": [424242],
        "web:rights-complete": [424242],
        "web:rights-verify": [424242],
        "web:rights-lift-restriction": [424242],
        "web:rights-document": [424242],
        "web:rights-correction": [424242],
        "web:campaign": [424242],
        "web:campaign-send": [424242],
        "web:campaign-resume": [424242],
        "web:campaign-progress": [424242],
        "web:call-log": [424242],
        "web:capture-form": [424242],
        "web:person-merge": [ids["p"]],
        "web:person-merge-confirm": [ids["p"], 424242],
        "web:partner": [424242],
        "web:partner-end": [424242],
        "web:processor-channel": ["7sense"],
        "web:dialogue": [424242],
        "web:dialogue-close": [424242],
        "web:dialogue-add": [424242],
        "web:dialogue-remove": [424242, ids["p"]],
        "web:disclose": [424242],
        "web:delivery-retry": [424242],
        "web:person-disclosures": [ids["p"]],
        "web:notice-ack": [424242],
        "web:verify-run": [424242],
        "web:event-attend": [424242],
        "web:incident": [424242],
        "web:incident-affected": [424242],
        "web:incident-notification": [424242],
        "web:incident-update": [424242],
        "web:incident-no-risk": [424242],
        "web:incident-notices": [424242],
        "web:incident-report": [424242],
        "web:incident-report-pdf": [424242],
    }.get(name, [])
    return reverse(name, args=args)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_policy_allows_in_the_staff_ui(role, staff_client, records):
    client = staff_client(role)
    for (method, name), expected in WEB.items():
        url = web_url(name, records)
        if method == "GET":
            response = client.get(url)
        else:
            data = {"kind": "note", "direction": "internal", "summary": "matrix"} if name == "web:person-log" else {}
            if name == "web:person-objection":
                data = {"contact_channel": "phone"}
            if name == "web:offboard":
                data = {"successor": records["successor"]}
            response = client.post(url, data)
        assert response.status_code == expected[role], f"{role} {method} {url}"


def test_nobody_signed_in_is_sent_to_sign_in(records):
    client = Client()
    for (method, name), _ in WEB.items():
        if name == "web:home":
            continue
        url = web_url(name, records)
        response = client.get(url) if method == "GET" else client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_policy_allows_in_the_api(role, api_as, records):
    client = api_as(role)
    for (method, path), expected in API.items():
        url = path.replace("{person_id}", str(records["p"])).replace("{organization_id}", str(records["o"]))
        url = (
            url.replace("{request_id}", "424242")
            .replace("{service_id}", "424242")
            .replace("{dialogue_id}", "424242")
            .replace("{campaign_id}", "424242")
            .replace("{incident_id}", "424242")
            .replace("{kind}", "sales")
        )
        body = API_BODIES.get((method, path))
        if isinstance(body, bytes):
            response = client.generic(method, url, body, content_type="message/rfc822")
        else:
            response = client.generic(
                method, url, json.dumps(body) if body is not None else "", content_type="application/json"
            )
        assert response.status_code == expected[role], f"{role} {method} {url}: {response.content[:200]}"


def test_the_api_refuses_nobody_signed_in(records):
    for method, path in API:
        path = path.partition("?")[0]
        url = path.replace("{person_id}", str(records["p"])).replace("{organization_id}", str(records["o"]))
        url = (
            url.replace("{request_id}", "424242")
            .replace("{service_id}", "424242")
            .replace("{dialogue_id}", "424242")
            .replace("{campaign_id}", "424242")
            .replace("{incident_id}", "424242")
            .replace("{kind}", "sales")
        )
        assert Client().generic(method, url).status_code == 401, url
