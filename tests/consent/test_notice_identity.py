"""A notice version is what it means, not what it prints (§14): its identity covers the texts,
the purposes it names and every fact of the policy. A new purpose that reuses an earlier
purpose's label renders the same text, yet it is a new version, and `tillit notice inform`
then lets it be used for the people told."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from tillit import policy
from tillit.consent import selectors
from tillit.consent import services as consent_services
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.public.notice import publish_current, render_notice_texts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _run_tasks_immediately(immediate_tasks):  # type: ignore[no-untyped-def]
    pass


@pytest.fixture
def swap_policy(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Swap in a copy of the policy file with every occurrence of ``old`` replaced."""
    original = Path(django_settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")

    def swap(old: str, new: str) -> None:
        assert old in original
        path = tmp_path / "avara.toml"
        path.write_text(original.replace(old, new), encoding="utf-8")
        settings.TILLIT_POLICY_PATH = path
        policy.reset()

    yield swap
    policy.reset()


def test_a_new_purpose_under_an_old_label_is_a_new_version_and_inform_lets_it_be_used(
    now: dt.datetime, swap_policy, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    NoticeVersion.objects.filter(texts={}).delete()  # only what is published here
    first = publish_current(now).version
    kari = people.create_person(
        actor=Actor.system("tests"),
        now=now,
        source="form",
        values={"name": "Kari Svensson", "email": "kari@example.com", "language": "sv"},
    )
    assert kari.notice_version_id == first.pk
    texts_before = render_notice_texts()

    # The purpose `personalisation` is replaced by `tailoring`, with the very same label.
    swap_policy("personalisation", "tailoring")
    assert render_notice_texts() == texts_before, "the notice prints the same words"
    assert selectors.eligibility(person_id=kari.pk, purpose="tailoring", channel="web").reason == "not_informed"

    second = publish_current(now + dt.timedelta(days=1))
    assert second.created, "a new purpose is a new version, though the text is the same"
    assert second.version.pk != first.pk
    assert "tailoring" in second.version.purposes
    assert selectors.current_notice() == second.version

    call_command("notice", "inform", stdout=StringIO())

    assert [m["To"] for m in smtp_server.messages] == ["kari@example.com"]
    assert not selectors.people_to_inform().exists()
    assert selectors.eligibility(person_id=kari.pk, purpose="tailoring", channel="web").reason == "no_consent"
    consent_services.record_consent(
        actor=Actor.system("tests"),
        now=now + dt.timedelta(days=2),
        person_id=kari.pk,
        purpose="tailoring",
        channel="web",
        source_kind="page",
        wording="Ja, anpassa innehållet för mig.",
        language="sv",
    )
    assert selectors.eligibility(person_id=kari.pk, purpose="tailoring", channel="web").allowed


def test_every_fact_is_part_of_the_identity(now: dt.datetime, swap_policy) -> None:  # type: ignore[no-untyped-def]
    """A fact the notice does not print (which purpose the functional cookies serve) still
    makes a new version; a comment does not."""
    first = publish_current(now).version
    swap_policy("# The channels a purpose may use.", "# The channels a purpose may use (a comment).")
    assert not publish_current(now + dt.timedelta(hours=1)).created
    swap_policy('tools = ["staff_accounts", "capture_forms"]', 'tools = ["staff_accounts"]')
    texts = render_notice_texts()
    assert texts == first.texts
    again = publish_current(now + dt.timedelta(hours=2))
    assert again.created
    assert again.version.digest != first.digest
    assert consent_services.notice_digest(texts) == again.version.digest
