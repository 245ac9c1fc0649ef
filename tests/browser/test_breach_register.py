"""In a real browser (issue 21 part 2): the privacy officer signs in, records a breach, sees the
72-hour clock, finds the people a support member read in the hours before, and sees them
attached to the incident."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.incidents.models import AffectedPerson, Incident
from tillit.people import selectors as people_selectors
from tillit.people import services as people

from .conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_privacy_officer_records_a_breach_sees_the_clock_and_attaches_the_people_affected(
    page, live_server, make_staff, staff_actor, system_actor, csp_errors
):
    started = timezone.now()
    read = [
        people.create_person(
            actor=system_actor,
            now=started - dt.timedelta(days=3),
            source="form",
            values={"name": name, "email": f"{name.split()[0].lower()}@example.com"},
        )
        for name in ("Kari Lest", "Per Lest")
    ]
    untouched = people.create_person(
        actor=system_actor, now=started - dt.timedelta(days=3), source="form", values={"name": "Ola Urørt"}
    )
    support = staff_actor("customer_support")
    for someone in read:
        people_selectors.get_person(actor=support, now=started - dt.timedelta(hours=1), person_id=someone.pk)

    user = make_staff("privacy_officer")
    sign_in(page, live_server, user.username, TOTPDevice.objects.create(user=user, name="phone", confirmed=True))
    page.get_by_role("link", name="Breaches").click()
    page.get_by_role("link", name="Record an incident").click()
    page.get_by_label("Title (no personal data)").fill("Support laptop stolen")
    page.get_by_label("When we became aware").fill(local(started - dt.timedelta(hours=2)))
    page.get_by_label("What happened (describe the breach, not the people)").fill(
        "A support laptop was stolen from a car; its browser session was still signed in."
    )
    page.locator("input[name=categories][value=name]").check()
    page.locator("input[name=categories][value=email]").check()
    page.get_by_label("Approximate number of people").fill("2")
    page.get_by_label("Likely consequences").fill("Phishing emails using the names.")
    page.get_by_label("Measures taken or proposed").fill("The session was ended and the password changed.")
    page.get_by_role("button", name="Record the incident").click()

    assert "The incident is recorded." in page.content()
    clock = page.locator("#clock").inner_text()
    assert "left to notify the supervisory authority" in clock
    assert clock.startswith(("69 h", "70 h")), clock  # about 70 hours of 72 left

    page.locator("#id_staff-staff_user_id").fill(str(support.user_id))
    page.locator("#id_staff-since").fill(local(started - dt.timedelta(hours=3)))
    page.locator("#id_staff-until").fill(local(started + dt.timedelta(minutes=5)))
    page.get_by_role("button", name="Find and attach").first.click()

    assert "2 people attached to the incident." in page.content()
    attached = page.locator("#affected-people").inner_text()
    assert all(f"#{someone.pk}" in attached for someone in read)
    assert f"#{untouched.pk}" not in attached
    incident = Incident.objects.get()
    assert set(AffectedPerson.objects.filter(incident=incident).values_list("person_id", flat=True)) == {
        p.pk for p in read
    }
