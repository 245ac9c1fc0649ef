"""Exceptions to the content security policy, one response at a time.

The policy (``CONTENT_SECURITY_POLICY`` in the settings) allows no inline style. A page that must
be self-contained (the access answer: saved to a file, printed, opened offline, it still reads
the same) carries its stylesheet inline; ``allow_own_styles`` adds the hash of exactly those
style blocks to that one response's ``style-src``, so nothing else inline is allowed."""

from __future__ import annotations

import base64
import hashlib
import re

from django.http import HttpResponse

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def style_hashes(html: str) -> list[str]:
    """The CSP sources (``'sha256-...'``) of every ``<style>`` block in ``html``."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode('utf-8')).digest()).decode('ascii')}'"
        for block in _STYLE.findall(html)
    ]


def allow_own_styles(response: HttpResponse, html: str) -> HttpResponse:
    hashes = style_hashes(html)
    if hashes:
        response._csp_update = {"style-src": hashes}  # type: ignore[attr-defined]  # read by django-csp
    return response
