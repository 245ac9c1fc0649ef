"""Notice versions (§14): each distinct text is published once, dated and identified by its
content hash; /privacy/versions lists them newest first with a readable diff."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.public.conftest import page_text
from tillit import policy
from tillit.consent import selectors, services
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.policy.versions import facts_digest
from tillit.public.notice import diff_texts, publish_current, render_notice_texts

pytestmark = pytest.mark.django_db


def published() -> int:
    """Versions with text (the suite's fixture adds one without text)."""
    return NoticeVersion.objects.exclude(texts={}).count()


def test_publishing_the_same_notice_twice_gives_one_version(now: dt.datetime) -> None:
    first = publish_current(now)
    again = publish_current(now + dt.timedelta(days=1))
    assert first.created
    assert not again.created
    assert again.version.pk == first.version.pk
    assert published() == 1
    version = first.version
    assert version.published_at == now
    assert version.policy_digest == policy.current().digest
    assert version.purposes == list(policy.current().purposes)
    assert set(version.texts) == {"en", "sv", "nb"}
    canonical = json.dumps(
        {"facts": facts_digest(policy.current()), "purposes": sorted(version.purposes), "texts": version.texts},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert version.digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert selectors.current_notice() == version


def test_the_service_checks_what_it_stores(now: dt.datetime) -> None:
    texts = render_notice_texts()
    actor = Actor.system("tests")
    digest = policy.current().digest
    with pytest.raises(ValidationError):
        services.publish_notice(actor=actor, now=now, texts={"en": texts["en"]}, policy_digest=digest, purposes=[])
    with pytest.raises(ValidationError):
        services.publish_notice(actor=actor, now=now, texts={**texts, "sv": " "}, policy_digest=digest, purposes=[])
    with pytest.raises(ValidationError):
        services.publish_notice(actor=actor, now=now, texts=texts, policy_digest=digest, purposes=["telepathy"])
    with pytest.raises(ValidationError):
        services.publish_notice(actor=actor, now=now, texts=texts, policy_digest="nope", purposes=[])
    assert published() == 0


def test_a_changed_policy_gives_a_new_version_and_the_diff_shows_it(
    client: Client, now: dt.datetime, modified_policy: Callable[[str, str], None]
) -> None:
    old = publish_current(now).version
    modified_policy(
        '{ name = "tillit_visitor", purpose = "Counts visits so we can improve the website", duration_days = 365 }',
        '{ name = "tillit_visitor", purpose = "Counts visits so we can improve the website", duration_days = 400 }',
    )
    new = publish_current(now + dt.timedelta(hours=1))
    assert new.created
    assert new.version.digest != old.digest
    assert new.version.policy_digest != old.policy_digest
    assert "Kept for 400 days" in new.version.texts["en"]
    assert published() == 2
    assert selectors.notice_versions()[0] == new.version

    response = client.get("/privacy/versions")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(new.version.digest[:8]) < body.index(old.digest[:8])  # newest first
    assert '<li class="diff-removed">' in body
    assert "<del>365</del>" in body
    assert "<ins>400</ins>" in body
    assert f"Changes from version {old.digest[:8]}" in body

    swedish = client.get("/privacy/versions", {"lang": "sv"}).content.decode()
    assert "<ins>400</ins>" in swedish
    assert "Sparas i 400 dagar" in page_text(swedish.encode())


def test_the_page_publishes_the_notice_when_none_is_published_yet(client: Client) -> None:
    assert published() == 0
    client.get("/privacy")
    client.get("/privacy", {"lang": "sv"})
    assert published() == 1


def test_an_old_version_can_be_read(client: Client, now: dt.datetime) -> None:
    version = publish_current(now).version
    response = client.get(f"/privacy/versions/{version.digest[:8]}", {"lang": "nb"})
    assert response.status_code == 200
    assert version.texts["nb"].splitlines()[0] in response.content.decode()
    assert client.get("/privacy/versions/0123abcd").status_code == 404
    assert client.get("/privacy/versions/not-a-hash").status_code == 404


def test_diff_marks_the_changed_words() -> None:
    lines = diff_texts("A\nB\nkept for 365 days\nC\nD\nE\n", "A\nB\nkept for 400 days\nC\nD\nE\nF\n")
    kinds = [line.kind for line in lines]
    assert kinds == ["gap", "same", "removed", "added", "same", "gap", "same", "added"]
    removed = lines[2]
    assert [s.text for s in removed.segments if s.changed] == ["365"]
    added = lines[3]
    assert [s.text for s in added.segments if s.changed] == ["400"]
    assert diff_texts("same\n", "same\n") == []


def test_diff_escapes_html(client: Client, now: dt.datetime, modified_policy: Callable[[str, str], None]) -> None:
    publish_current(now)
    modified_policy('purpose = "Remembers your cookie choices"', 'purpose = "Remembers <b>your</b> choices"')
    publish_current(now + dt.timedelta(hours=1))
    body = client.get("/privacy/versions").content.decode()
    assert "<b>your</b>" not in body
    assert "&lt;b&gt;your&lt;/b&gt;" in body


def test_cli_publishes_once() -> None:
    out = io.StringIO()
    call_command("notice", "publish", stdout=out)
    version = selectors.current_notice()
    assert version is not None
    day = timezone.localdate(version.published_at).isoformat()
    assert out.getvalue().strip() == f"published notice version {day} {version.digest[:8]}"
    out = io.StringIO()
    call_command("notice", "publish", stdout=out)
    assert out.getvalue().strip() == f"notice unchanged ({version.digest[:8]})"
    assert published() == 1


def test_gpc_json(client: Client, now: dt.datetime) -> None:
    publish_current(now)
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"gpc": True, "lastUpdate": "2026-11-24"}
    assert not response.cookies


def test_gpc_json_without_any_notice_uses_the_policy_file_date(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    NoticeVersion.objects.all().delete()
    modified = dt.datetime.fromtimestamp(Path(settings.TILLIT_POLICY_PATH).stat().st_mtime, tz=dt.UTC)
    response = client.get("/.well-known/gpc.json")
    assert response.json() == {"gpc": True, "lastUpdate": timezone.localdate(modified).isoformat()}
    dt.date.fromisoformat(response.json()["lastUpdate"])
