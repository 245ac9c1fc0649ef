"""Offboarding (issue 16 item 10; policy §16: "relevant emails will normally be transferred to
colleagues"): when a staff member leaves, the people they own, the emails they logged and the
open dialogues they look after move to the colleague who takes over, the account closes at
once (sign-in, sessions, API tokens), and the hand-over is recorded. There is no task model in
tillit yet, so there are no tasks to move."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from tillit.accounts import services as accounts
from tillit.accounts.models import ApiClient, StaffHandover, User
from tillit.accounts.selectors import actor_for_token, actor_for_user
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Interaction, Person
from tillit.sharing import services as sharing
from tillit.sharing.models import Dialogue

from ..conftest import sign_in_verified

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


@pytest.fixture
def office(now, make_staff):
    leaver = make_staff("sales", username="leaver")
    successor = make_staff("sales", username="successor")
    other = make_staff("sales", username="other")
    admin = make_staff("administrator", username="admin")
    officer = actor_for_user(make_staff("privacy_officer", username="officer"))
    earlier = now - dt.timedelta(days=30)
    kari, ola, per = (
        people.create_person(
            actor=SYSTEM, now=earlier, source="form", values={"name": name, "email": f"{slug}@example.com"}
        )
        for name, slug in (("Kari Testesen", "kari"), ("Ola Prøvesen", "ola"), ("Per Eksempel", "per"))
    )
    Person.objects.filter(pk__in=[kari.pk, ola.pk]).update(owner=leaver)
    Person.objects.filter(pk=per.pk).update(owner=other)
    as_leaver, as_other = actor_for_user(leaver), actor_for_user(other)
    for person in (kari, ola):
        people.record_interaction(
            actor=as_leaver, now=earlier, person_id=person.pk, kind="email", direction="inbound", occurred_at=earlier
        )
    people.record_interaction(
        actor=as_leaver, now=earlier, person_id=kari.pk, kind="call", direction="inbound", occurred_at=earlier
    )
    people.record_interaction(
        actor=as_other, now=earlier, person_id=per.pk, kind="email", direction="inbound", occurred_at=earlier
    )
    partner = sharing.register_partner(
        actor=officer,
        now=earlier,
        values={
            "key": "fiberpartner",
            "name": "Fiberpartner AS",
            "org_number": "923130969",
            "contact_email": "privacy@fiberpartner.example.com",
            "agreement_reference": "DPA-2026-01",
            "agreement_dated": "2026-01-15",
        },
    )
    dialogues = {
        name: sharing.open_dialogue(actor=actor, now=earlier, partner_id=partner.pk, kind="sales", title=name)
        for name, actor in (("open", as_leaver), ("closed", as_leaver), ("theirs", as_other))
    }
    sharing.close_dialogue(actor=as_leaver, now=earlier, dialogue_id=dialogues["closed"].pk)
    return {
        "leaver": leaver,
        "successor": successor,
        "other": other,
        "admin": admin,
        "people": (kari, ola, per),
        "dialogues": dialogues,
    }


def test_the_leavers_people_emails_and_open_dialogues_move_to_the_successor(office):
    leaver, successor, other, admin = office["leaver"], office["successor"], office["other"], office["admin"]
    kari, ola, per = office["people"]
    leaver_session = sign_in_verified(Client(), leaver)
    assert leaver_session.get("/people/").status_code == 200
    _, token = accounts.create_api_client(actor=SYSTEM, now=admin.date_joined, user_id=leaver.pk, name="script")

    response = sign_in_verified(Client(), admin).post(
        f"/staff/{leaver.pk}/offboard/", {"successor": successor.pk}, follow=True
    )
    assert response.status_code == 200
    assert "Account closed; 2 person records, 2 emails and 1 open dialogues handed over." in response.content.decode()

    assert set(Person.objects.filter(owner=successor).values_list("pk", flat=True)) == {kari.pk, ola.pk}
    assert Person.objects.get(pk=per.pk).owner_id == other.pk
    emails = Interaction.objects.filter(kind="email")
    assert set(emails.filter(staff=successor).values_list("person_id", flat=True)) == {kari.pk, ola.pk}
    assert emails.get(person=per).staff_id == other.pk
    assert Interaction.objects.get(kind="call").staff_id == leaver.pk, "only emails are handed over (§16)"
    dialogues = {d.title: d for d in Dialogue.objects.all()}
    assert dialogues["open"].owner_id == successor.pk
    assert dialogues["open"].opened_by_id == leaver.pk, "who opened it stays true"
    assert dialogues["closed"].owner_id is None
    assert dialogues["theirs"].owner_id is None

    handover = StaffHandover.objects.get()
    assert (handover.leaver, handover.successor) == (leaver, successor)
    assert handover.counts == {"people": 2, "emails": 2, "open_dialogues": 1, "sessions_ended": 1}
    entry = AuditEntry.objects.get(action="handover")
    assert (entry.subject_type, entry.subject_id, entry.actor_user_id) == ("staff", leaver.pk, admin.pk)
    assert entry.fields == ["emails", "open_dialogues", "people", "sessions_ended"]

    leaver.refresh_from_db()
    assert not leaver.is_active
    assert leaver_session.get("/people/").status_code in (302, 403)
    assert actor_for_token(token, now=admin.date_joined) is None
    assert ApiClient.objects.get(user=leaver).revoked_at is not None


def test_a_second_leaver_hands_a_dialogue_on_again(office, now):
    leaver, successor, other = office["leaver"], office["successor"], office["other"]
    accounts.offboard_staff(actor=SYSTEM, now=now, user_id=leaver.pk, successor_id=successor.pk)
    accounts.offboard_staff(actor=SYSTEM, now=now, user_id=successor.pk, successor_id=other.pk)
    assert Dialogue.objects.get(title="open").owner_id == other.pk
    assert Person.objects.filter(owner=other).count() == 3
    assert list(StaffHandover.objects.order_by("pk").values_list("counts__open_dialogues", flat=True)) == [1, 1]


@pytest.mark.parametrize("successor", ["self", "inactive", "missing"])
def test_no_hand_over_without_an_active_colleague(office, now, successor):
    leaver = office["leaver"]
    if successor == "inactive":
        User.objects.filter(pk=office["other"].pk).update(is_active=False)
    successor_id = {"self": leaver.pk, "inactive": office["other"].pk, "missing": 424242}[successor]
    response = sign_in_verified(Client(), office["admin"]).post(
        f"/staff/{leaver.pk}/offboard/", {"successor": successor_id}, follow=True
    )
    assert response.status_code == 200
    assert not StaffHandover.objects.exists()
    assert Person.objects.filter(owner=leaver).count() == 2
    assert Dialogue.objects.get(title="open").owner_id is None
    assert User.objects.get(pk=leaver.pk).is_active
