"""The breach register's JSON API: record, read with the clock, attach the people disclosed to
a partner, record a late notification (422 naming late_reason without the reasons), send the
notices (202); bad input is a 4xx naming the field."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from tillit.core.actors import Actor
from tillit.people import services as people

from ..conftest import disclose_to_a_partner

pytestmark = pytest.mark.django_db
AWARE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
BODY = {
    "title": "Partner's endpoint leaked a file",
    "description": "A file we disclosed was readable on the partner's server for a day.",
    "aware_at": AWARE.isoformat(),
    "categories": ["name", "email"],
    "approximate_people": 1,
    "consequences": "Unwanted emails.",
    "measures": "The partner removed the file and rotated its keys.",
}


def post(client, url, body):  # type: ignore[no-untyped-def]
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_api_walks_an_incident_from_record_to_notices(api_as, staff_actor, immediate_tasks) -> None:  # type: ignore[no-untyped-def]
    client = api_as("privacy_officer")
    lise = people.create_person(
        actor=Actor.system("tests"),
        now=AWARE - dt.timedelta(days=30),
        source="form",
        values={"name": "Lise Delt", "email": "lise@example.com"},
    )
    partner = disclose_to_a_partner(
        staff_actor("privacy_officer"), staff_actor("sales"), AWARE, lise, disclosed_at=AWARE - dt.timedelta(days=1)
    )
    with time_machine.travel(AWARE + dt.timedelta(hours=1), tick=False):
        naive = post(client, "/api/incidents", {**BODY, "aware_at": "2026-11-23T08:00:00"})
        refused = post(client, "/api/incidents", {**BODY, "categories": ["nam"]})
        created = post(client, "/api/incidents", BODY)
    assert (refused.status_code, refused.json()["field"]) == (422, "categories")
    assert (naive.status_code, naive.json()["field"]) == (422, "aware_at")
    assert created.status_code == 201
    incident = created.json()
    assert (incident["clock"], incident["time_left_seconds"]) == ("running", 71 * 3600)

    url = f"/api/incidents/{incident['id']}"
    with time_machine.travel(AWARE + dt.timedelta(hours=2), tick=False):
        missing = post(client, f"{url}/affected", {"kind": "staff", "staff_user_id": 1})
        attached = post(client, f"{url}/affected", {"kind": "partner", "partner_id": partner.pk})
    assert (missing.status_code, missing.json()["field"]) == (422, "since")
    assert attached.json() == {"added": 1, "affected": 1}

    with time_machine.travel(AWARE + dt.timedelta(hours=90), tick=False):
        assert client.get(url).json()["clock"] == "overdue"
        late = {"notified_at": (AWARE + dt.timedelta(hours=89)).isoformat(), "reference": "22/09999"}
        refused = post(client, f"{url}/notification", late)
        recorded = post(client, f"{url}/notification", {**late, "late_reason": "The partner told us only today."})
        notices = client.post(f"{url}/notices")
    assert (refused.status_code, refused.json()["field"]) == (422, "late_reason")
    assert recorded.status_code == 200
    assert (recorded.json()["clock"], recorded.json()["late_by_seconds"]) == ("notified_late", 17 * 3600)
    assert (notices.status_code, notices.json()) == (202, {"requested": 1})
    assert client.get(url).json()["notices"] == {"sent": 1}
