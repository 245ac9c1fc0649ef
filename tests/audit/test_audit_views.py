"""The audit log page: the privacy officer sees the entries, filtered by person, staff member
and date; other roles are refused; nobody signed in is sent to the sign-in page. The
selector itself refuses every role without the ``audit_log`` tool."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from tillit.audit import selectors
from tillit.audit.models import AuditEntry
from tillit.core.errors import PermissionDeniedError, ValidationError

pytestmark = pytest.mark.django_db

URL = "/audit/"


def shown(response) -> list[dict]:  # type: ignore[no-untyped-def]
    return response.context["page"].items


def test_the_privacy_officer_sees_the_entries_about_one_person(people_log, staff_client):
    first, second = people_log
    response = staff_client("privacy_officer").get(URL, {"person": first.pk})
    assert response.status_code == 200
    rows = shown(response)
    assert rows
    assert {(r["subject_type"], r["subject_id"]) for r in rows} == {("person", first.pk)}
    assert {"create", "read", "search", "update"} <= {r["action"] for r in rows}
    expected = AuditEntry.objects.filter(subject_type="person", subject_id=first.pk).count()
    assert len(rows) == expected
    body = response.content.decode()
    assert f'?person={first.pk}"' in body
    assert f'?person={second.pk}"' not in body
    assert "Ingrid" not in body
    assert "example.com" not in body


def test_filter_by_staff_member_and_date(people_log, staff_client, make_staff, now):
    seller = make_staff("sales")
    client = staff_client("privacy_officer")
    rows = shown(client.get(URL, {"staff": seller.pk}))
    assert rows
    assert {r["actor_user_id"] for r in rows} == {seller.pk}
    day = now.date()
    assert len(shown(client.get(URL, {"since": day.isoformat(), "until": day.isoformat()}))) > 0
    assert shown(client.get(URL, {"since": (day + dt.timedelta(days=1)).isoformat()})) == []
    assert shown(client.get(URL, {"until": (day - dt.timedelta(days=1)).isoformat()})) == []


def test_pages_newest_first(people_log, staff_client):
    client = staff_client("privacy_officer")
    first = client.get(URL)
    items = shown(first)
    assert [r["sequence"] for r in items] == sorted((r["sequence"] for r in items), reverse=True)
    assert items[0]["sequence"] == AuditEntry.objects.order_by("-sequence").first().sequence


def test_a_bad_filter_is_a_form_error(staff_client):
    response = staff_client("privacy_officer").get(URL, {"person": "abc", "since": "2026-12-01", "until": "2026-11-01"})
    assert response.status_code == 422
    assert response.context["form"].errors.keys() == {"person", "until"}


@pytest.mark.parametrize("role", ["sales", "marketing", "customer_support", "administrator"])
def test_other_roles_are_refused(staff_client, role):
    client = staff_client(role)
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"person": "abc"}).status_code == 403


def test_nobody_signed_in_is_sent_to_sign_in():
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_selector_refuses_roles_without_the_tool(staff_actor):
    with pytest.raises(PermissionDeniedError):
        selectors.audit_entries(actor=staff_actor("sales"), page=1, page_size=10)
    officer = staff_actor("privacy_officer")
    with pytest.raises(ValidationError):
        selectors.audit_entries(actor=officer, page=0, page_size=10)
    since = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    with pytest.raises(ValidationError):
        selectors.audit_entries(actor=officer, since=since, until=since, page=1, page_size=10)
