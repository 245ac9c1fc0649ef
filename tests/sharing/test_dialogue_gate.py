"""Issue 15, item 4: a dialogue's people are read through the one gate (people.selectors).
Its page and API show only people told about the dialogue's purpose (§14) and not stopped by
an objection; adding people checks the same; a refused person reads like a missing one."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.audit.models import AuditEntry
from tillit.consent import services as consent
from tillit.consent.models import NoticeVersion
from tillit.core.errors import NotFoundError
from tillit.people.models import Person
from tillit.sharing import selectors, services
from tillit.sharing.models import DialogueMember

from .conftest import NOW, make_people

pytestmark = pytest.mark.django_db


@pytest.fixture
def not_told(now):
    """A notice version that does not name the sales dialogue (§14)."""
    return NoticeVersion.objects.create(
        digest="3" * 64, policy_digest="x", published_at=now - dt.timedelta(days=900), purposes=["customer_care"]
    )


def test_the_dialogue_shows_only_members_the_gate_shows(sales, dialogue, crowd, not_told, system_actor):
    told_less, objected, fine = crowd
    Person.objects.filter(pk=told_less.pk).update(notice_version=not_told)
    consent.object_to_purpose(
        actor=system_actor, now=NOW, person_id=objected.pk, purpose="sales_dialogue", source_kind="staff", language="en"
    )
    shown = selectors.dialogue_detail(actor=sales, now=NOW, dialogue_id=dialogue.pk)
    assert [p["id"] for p in shown["people"]] == [fine.pk]
    assert shown["people"][0]["email"] == fine.email
    assert set(shown["people"][0]) == {"id", "added_at", "name", "email", "phone"}
    read = AuditEntry.objects.filter(action="read", at=NOW, subject_type="person")
    assert set(read.values_list("subject_id", flat=True)) == {fine.pk}, "only who was shown is audited as read"


def test_the_dialogue_page_leaves_them_out(sales, dialogue, crowd, not_told, staff_client):
    hidden = crowd[0]
    Person.objects.filter(pk=hidden.pk).update(notice_version=not_told)
    for url in (f"/dialogues/{dialogue.pk}/", f"/dialogues/{dialogue.pk}/disclose/"):
        page = staff_client("sales").get(url).content.decode()
        if url.endswith(f"{dialogue.pk}/"):
            assert crowd[1].email in page, "the others are listed"
        assert hidden.email not in page, url
        assert hidden.name not in page, url


def test_adding_a_person_not_told_about_the_purpose_reads_like_a_missing_one(sales, partner, not_told, system_actor):
    opened = services.open_dialogue(actor=sales, now=NOW, partner_id=partner.pk, kind="sales", title="Q3")
    (told_less,) = make_people(system_actor, 1, prefix="Uninformed", org=False)
    Person.objects.filter(pk=told_less.pk).update(notice_version=not_told)
    answers = []
    for person_id in (told_less.pk, 424242):
        with pytest.raises(NotFoundError) as refused:
            services.add_to_dialogue(actor=sales, now=NOW, dialogue_id=opened.pk, person_ids=[person_id])
        answers.append((refused.value.message.replace(f"#{person_id}", "#N"), refused.value.field))
    assert answers[0] == answers[1]
    assert not DialogueMember.objects.filter(dialogue=opened).exists()


def test_adding_a_person_who_objected_to_the_purpose_is_refused(sales, partner, system_actor):
    opened = services.open_dialogue(actor=sales, now=NOW, partner_id=partner.pk, kind="sales", title="Q4")
    (objector,) = make_people(system_actor, 1, prefix="Objector", org=False)
    consent.object_to_purpose(
        actor=system_actor, now=NOW, person_id=objector.pk, purpose="sales_dialogue", source_kind="staff", language="en"
    )
    with pytest.raises(NotFoundError):
        services.add_to_dialogue(actor=sales, now=NOW, dialogue_id=opened.pk, person_ids=[objector.pk])


def test_who_received_my_data_is_refused_for_a_person_the_role_may_not_read(sales, crowd, now, staff_client):
    hidden = crowd[0]
    told_nothing = NoticeVersion.objects.create(
        digest="4" * 64, policy_digest="x", published_at=now - dt.timedelta(days=900), purposes=[]
    )
    Person.objects.filter(pk=hidden.pk).update(notice_version=told_nothing)
    with pytest.raises(NotFoundError):
        selectors.person_ledger(actor=sales, now=NOW, person_id=hidden.pk)
    assert selectors.person_ledger(actor=sales, now=NOW, person_id=crowd[1].pk) == []
    assert staff_client("sales").get(f"/people/{hidden.pk}/disclosures/").status_code == 404
