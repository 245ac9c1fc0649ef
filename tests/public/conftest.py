"""Fixtures for the pages for data subjects."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tillit import policy

INLINE_TAGS = re.compile(r"</?(a|span|ins|del|strong|em|code)\b[^>]*>")
ANY_TAG = re.compile(r"<[^>]+>")


def page_text(content: bytes) -> str:
    """The words a reader sees in <main>: inline tags dropped, block tags as spaces, entities
    decoded, whitespace collapsed."""
    body = content.decode()
    main = body[body.index("<main") : body.index("</main>")]
    text = ANY_TAG.sub(" ", INLINE_TAGS.sub("", main))
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.fixture
def modified_policy(settings, tmp_path: Path) -> Iterator[Callable[[str, str], None]]:  # type: ignore[no-untyped-def]
    """Swap in a copy of the policy file with one text replaced (``old`` must occur once)."""
    original = Path(django_settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")

    def modify(old: str, new: str) -> None:
        assert original.count(old) == 1, old
        path = tmp_path / "avara.toml"
        path.write_text(original.replace(old, new), encoding="utf-8")
        settings.TILLIT_POLICY_PATH = path
        policy.reset()

    yield modify
    policy.reset()
