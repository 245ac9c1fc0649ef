"""Events (policy §11): an event of ours or run with a named partner, its registration form a
capture form, attendance on the timeline; the answers to that event's form may go to that
partner only, and only for the people in its dialogue."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tillit.capture import services as capture
from tillit.capture.models import Form
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.people.models import Interaction, Person
from tillit.sharing import services
from tillit.sharing.models import EventAttendance

from .conftest import NOW

pytestmark = pytest.mark.django_db
EVENING = NOW - dt.timedelta(days=2)


def _register(form: Form, n: int, *, question: str) -> Person:
    capture.submit_form(
        actor=Actor(kind="data_subject", role=None, user_id=None, label="data-subject:form"),
        now=EVENING - dt.timedelta(days=5),
        public_id=form.public_id,
        data={
            "name": f"Gjest Nummer{n}",
            "email": f"gjest{n}@example.com",
            "organisation": "Gjestebedrift AS",
            "question": question,
        },
    )
    return Person.objects.get(email=f"gjest{n}@example.com")


def test_a_partner_event_discloses_its_form_answers_to_that_partner_only(sales, partner, officer):
    event = services.create_event(
        actor=sales, now=EVENING - dt.timedelta(days=10), name="Fiberkveld", starts_at=EVENING, partner_id=partner.pk
    )
    form = Form.objects.get(pk=event.form_id)
    assert form.source == "partner_event"
    assert event.dialogue is not None
    assert event.dialogue.partner_id == partner.pk
    guest = _register(form, 1, question="Har dere fiber til hytta?")
    no_show = _register(form, 2, question="Kommer dere til Larvik?")

    assert services.record_attendance(actor=sales, now=EVENING, event_id=event.pk, person_ids=[guest.pk]) == 1
    assert services.record_attendance(actor=sales, now=EVENING, event_id=event.pk, person_ids=[guest.pk]) == 0
    assert EventAttendance.objects.filter(event=event).count() == 1
    assert Interaction.objects.filter(person=guest, kind="event", direction="inbound").exists()

    result = services.disclose(
        actor=sales,
        now=NOW,
        dialogue_id=event.dialogue.pk,
        categories=["name", "email", "form_answers"],
        channel="json",
        event_id=event.pk,
    )
    document = json.loads(result.content)
    assert result.disclosure.basis == "partner_event"
    [person] = document["people"]
    assert person["reference"] == str(guest.pseudonym)
    answers = person["form_answers"][0]["answers"]
    assert answers["question"] == "Har dere fiber til hytta?"
    assert "organisation" not in answers, "only the categories chosen go"
    assert str(no_show.pseudonym) not in result.content.decode(), "not in the dialogue: not disclosed"

    # The same event's answers may not go through a dialogue with another partner.
    other = services.register_partner(
        actor=officer,
        now=NOW - dt.timedelta(days=30),
        values={
            "key": "annen",
            "name": "Annen Partner AS",
            "contact_email": "privacy@annen.example.com",
            "agreement_reference": "DPA-9",
            "agreement_dated": "2026-01-15",
        },
    )
    dialogue = services.open_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=1), partner_id=other.pk, kind="sales", title="Annen"
    )
    services.add_to_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=1), dialogue_id=dialogue.pk, person_ids=[guest.pk]
    )
    with pytest.raises(ValidationError, match="not run with this partner"):
        services.disclose(
            actor=sales,
            now=NOW,
            dialogue_id=dialogue.pk,
            categories=["name", "form_answers"],
            channel="json",
            event_id=event.pk,
        )


def test_an_event_of_our_own_has_no_partner_and_no_dialogue(sales):
    event = services.create_event(actor=sales, now=NOW, name="Åpen dag", starts_at=NOW + dt.timedelta(days=7))
    assert event.partner is None
    assert event.dialogue is None
    assert Form.objects.get(pk=event.form_id).source == "event"
