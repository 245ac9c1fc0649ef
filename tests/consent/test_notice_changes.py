"""§14: a new purpose is not used for anyone before they are told. People given an older notice
are found, sent the updated notice by email (a real SMTP server) in their language, and only
then may the new purpose be used for them."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.consent import selectors
from tillit.consent.models import NoticeDelivery, NoticeVersion
from tillit.consent.tasks import inform_of_new_purposes
from tillit.people import services as people
from tillit.people.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _run_tasks_immediately(immediate_tasks):
    pass


def test_people_given_an_older_notice_are_told_before_the_new_purpose_is_used(system_actor, now, smtp_server):
    old = NoticeVersion.objects.create(
        digest="2" * 64,
        policy_digest="old",
        published_at=now - dt.timedelta(days=3650),
        purposes=["newsletter", "customer_care", "data_subject_rights"],
        texts={},
    )
    kari = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Svensson", "email": "kari@example.com", "language": "sv"},
    )
    ola = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Ola Hansen", "email": "ola@example.com", "language": "nb"},
    )
    Person.objects.filter(pk__in=[kari.pk, ola.pk]).update(notice_version=old)
    current = selectors.current_notice()
    assert set(selectors.people_to_inform().values_list("pk", flat=True)) == {kari.pk, ola.pk}
    assert not selectors.eligibility(person_id=kari.pk, purpose="direct_marketing", channel="phone").allowed

    result = inform_of_new_purposes.enqueue([kari.pk, ola.pk], current.pk)

    assert result.errors == []
    assert len(smtp_server.messages) == 2
    to_kari = next(m for m in smtp_server.messages if m["To"] == "kari@example.com")
    body = to_kari.get_content()
    assert "Direktmarknadsföring" in body or "Direct marketing" in body
    assert "/consent/" in body
    assert "923130969" in body
    assert not selectors.people_to_inform().exists()
    assert NoticeDelivery.objects.count() == 2
    assert selectors.eligibility(person_id=kari.pk, purpose="direct_marketing", channel="phone").allowed

    inform_of_new_purposes.enqueue([kari.pk, ola.pk], current.pk)
    assert len(smtp_server.messages) == 2, "a retried task mails nobody twice"


def test_the_notice_commands_count_and_inform(system_actor, now, smtp_server):
    from io import StringIO

    from django.core.management import call_command

    old = NoticeVersion.objects.create(
        digest="4" * 64,
        policy_digest="old",
        published_at=now - dt.timedelta(days=4000),
        # Purposes added since rest on consent: one on another basis needs its art. 6(4) assessment
        # first (tests/sharing/test_partner_roles_and_assessments.py).
        purposes=["sales_dialogue", "direct_marketing", "customer_care", "statistics", "data_subject_rights"],
        texts={},
    )
    person = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Per Test", "email": "per@example.com"}
    )
    Person.objects.filter(pk=person.pk).update(notice_version=old)
    out = StringIO()
    call_command("notice", "changes", stdout=out)
    assert "1 people must be told" in out.getvalue()
    assert "personalisation: 1 people" in out.getvalue()
    call_command("notice", "inform", stdout=StringIO())
    assert [m["To"] for m in smtp_server.messages] == ["per@example.com"]
    out = StringIO()
    call_command("notice", "changes", stdout=out)
    assert "everyone has been given" in out.getvalue()
