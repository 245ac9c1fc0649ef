"""The demo is a clean system (issue 16 item 6): right after the steps of ``make run`` (migrate,
``notice publish``, ``demo --if-empty``, ``welcome``) ``tillit verify`` finds nothing, and every
link in an email a demo person receives works, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from tillit.consent.models import Subscription
from tillit.core.actors import Actor
from tillit.marketing import services as marketing
from tillit.marketing.tasks import send_campaign
from tillit.people import demo
from tillit.people.models import Person
from tillit.sharing import verifier

# The demo commits chunk by chunk on the raw connection.
pytestmark = pytest.mark.django_db(transaction=True)

# A fixed day, so the seeded demo data is the same on every run.
DAY = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
PUBLIC = "https://tillit.example.com"


def make_run_steps(people: int = 500) -> str:
    """What ``make run`` does before it serves (migrate already ran: the test database)."""
    out = StringIO()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("notice", "publish", stdout=out)
    call_command("demo", "--if-empty", "--people", str(people), stdout=out)
    call_command("welcome", "--url", "http://127.0.0.1:8000", stdout=out)
    return out.getvalue()


def test_verify_finds_no_violation_right_after_make_run():
    with time_machine.travel(DAY, tick=False):
        printed = make_run_steps()
        assert "Swept" in printed
        out = StringIO()
        call_command("verify", stdout=out)  # exits 1 (CommandError) on any violation
        assert "0 violations" in out.getvalue()
        assert verifier.run(now=DAY).total == 0
        assert not Person.objects.filter(retain_until__lte=DAY).exists()


def test_a_second_make_run_is_still_clean():
    with time_machine.travel(DAY, tick=False):
        make_run_steps(people=120)
        count = Person.objects.count()
        assert "nothing written" in make_run_steps(people=120)
        assert Person.objects.count() == count
        assert verifier.run(now=DAY).total == 0


def _links(text: str) -> list[str]:
    return sorted(set(re.findall(re.escape(PUBLIC) + r"/[^\s\"<>]+", text)))


def test_every_link_in_a_demo_persons_email_works(settings, smtp_server):
    settings.TILLIT_PUBLIC_URL = PUBLIC
    with time_machine.travel(DAY, tick=True):
        make_run_steps(people=120)
        subscribers = Subscription.objects.filter(newsletter=demo.DEMO_NEWSLETTER, unsubscribed_at__isnull=True)
        assert subscribers.exists()
        marketer = Actor.system("demo-test")
        campaign = marketing.create_campaign(
            actor=marketer,
            now=DAY,
            values={
                "name": "December news",
                "newsletter": demo.DEMO_NEWSLETTER,
                "subjects": {"en": "News in December", "sv": "Nytt i december", "nb": "Nytt i desember"},
                "bodies_text": {"en": "Hello from Avara.", "sv": "Hej från Avara.", "nb": "Hei fra Avara."},
            },
        )
        assert marketing.start_campaign(actor=marketer, now=DAY, campaign_id=campaign.pk) > 0
        result = send_campaign.call(campaign.pk, 500)
        assert result["sent"] > 0
        assert result["failed"] == 0
        messages = smtp_server.messages[:5]
        assert messages
        client = Client()
        for message in messages:
            text = message.get_body(preferencelist=("plain",)).get_content()
            links = _links(text)
            header = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
            assert header in links
            assert any("/consent/" in link for link in links)
            for link in links:
                parts = urlsplit(link)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                response = client.get(path, follow=True)
                assert response.status_code == 200, (link, response.status_code)
            # The one-click unsubscribe (RFC 8058) works too, and ends the subscription.
            pseudonym_email = message.envelope_to[0]
            person = Person.objects.get(email=pseudonym_email)
            response = client.post(urlsplit(header).path, {"List-Unsubscribe": "One-Click"})
            assert response.status_code == 200
            assert not Subscription.objects.filter(
                person=person, newsletter=demo.DEMO_NEWSLETTER, unsubscribed_at__isnull=True
            ).exists()


def test_the_migration_mends_demo_pseudonyms_written_with_dashes_on_sqlite(settings):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from tillit.consent.links import consent_page_url

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL stores a UUID as a UUID: there were never dashes to mend")
    settings.TILLIT_PUBLIC_URL = PUBLIC
    with time_machine.travel(DAY, tick=False):
        demo.generate_demo(people=5, seed=3, now=DAY)
    person = Person.objects.order_by("pk").first()
    table = Person._meta.db_table
    with connection.cursor() as cursor:  # as an older demo wrote them
        cursor.execute(
            f"UPDATE {table} SET pseudonym = substr(pseudonym, 1, 8) || '-' || substr(pseudonym, 9, 4) || '-' || "
            "substr(pseudonym, 13, 4) || '-' || substr(pseudonym, 17, 4) || '-' || substr(pseudonym, 21)"
        )
    link = urlsplit(consent_page_url(str(person.pseudonym))).path
    assert Client().get(link).status_code == 400
    migration = importlib.import_module("tillit.people.migrations.0006_customer_relationship_end_reason")
    migration.undash_sqlite_pseudonyms(apps, SimpleNamespace(connection=connection))
    assert Client().get(link).status_code == 200
