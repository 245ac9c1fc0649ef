"""``tillit verify`` reports marketing emails sent on a consent that had lapsed (policy §5,
``[consent_lifetime]``): a send exactly at the end of the consent's lifetime is reported, one a
second before is not, and the person's own engagement or a renewal keeps the consent alive."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.consent import services as consent
from tillit.marketing.models import Campaign, SendRecord
from tillit.people import services as people
from tillit.policy.retention import add_years
from tillit.sharing import verifier

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)

pytestmark = pytest.mark.django_db


def expired_sends() -> list[str]:
    return sorted(v.subject for v in verifier.sends_on_expired_consent())


def test_sends_on_a_lapsed_consent_are_reported(system_actor):
    def consenting(email: str):  # type: ignore[no-untyped-def]
        person = people.create_person(actor=system_actor, now=NOW, source="form", values={"name": "K", "email": email})
        consent.record_consent(
            actor=system_actor,
            now=NOW,
            person_id=person.pk,
            purpose="newsletter",
            channel="email",
            source_kind="form",
            wording="Yes, send me the newsletter from Avara AS.",
            language="en",
        )
        return person

    quiet, engaged = consenting("quiet@example.com"), consenting("engaged@example.com")
    people.record_interaction(
        actor=system_actor, now=NOW + dt.timedelta(days=30), person_id=engaged.pk, kind="chat", direction="inbound"
    )
    end = add_years(NOW, 2)
    sends = {}
    for label, person, at in [
        ("in time", quiet, end - SECOND),
        ("at the end", quiet, end),
        ("engaged", engaged, end),
    ]:
        sends[label] = SendRecord.objects.create(
            campaign=Campaign.objects.create(name=label, purpose="newsletter", created_at=NOW),
            person=person,
            status="sent",
            basis="consent",
            message_id=f"<{label.replace(' ', '.')}@x>",
            sent_at=at,
        )
    assert expired_sends() == [f"send:#{sends['at the end'].pk} person:{quiet.pseudonym}"]
    assert "send_on_expired_consent" in verifier.KINDS
    assert [v.kind for v in verifier.violations(now=end) if v.kind == "send_on_expired_consent"] == [
        "send_on_expired_consent"
    ]
