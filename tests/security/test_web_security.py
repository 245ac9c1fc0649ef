"""Web security that a reviewer checks first: Django's deployment check is clean under the
production settings, every page carries the security headers, secrets come only from the
environment, and bandit finds nothing at medium severity or above."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "TILLIT_DEBUG": "false",
    "TILLIT_SECRET_KEY": "a-production-secret-that-is-long-and-random-4f9c2e7d1b8a6f3e0c5d9b2a7e4f1c8d",
    "TILLIT_ALLOWED_HOSTS": "crm.avara.example",
    "TILLIT_PUBLIC_URL": "https://crm.avara.example",
}


def run_tillit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only what production would have: no TILLIT_ settings from the test run, and not the flag the
    # browser tests set for Playwright (DJANGO_ALLOW_ASYNC_UNSAFE), which the deploy check rejects.
    clean = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("TILLIT_") or k == "TILLIT_DATA_DIR") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_deployment_check_is_clean_under_the_production_settings():
    result = run_tillit("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_from_the_environment():
    settings = {k: v for k, v in PRODUCTION.items() if k != "TILLIT_SECRET_KEY"}
    result = run_tillit("check", env=settings)
    assert result.returncode != 0
    assert "TILLIT_SECRET_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bandit_finds_nothing_at_medium_severity_or_above():
    bandit = Path(sys.executable).with_name("bandit")
    result = subprocess.run(
        [str(bandit), "-q", "-c", "pyproject.toml", "-r", "tillit", "config", "-ll"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout


# What the strict CSP blocks: style attributes, style elements, inline scripts and handlers.
INLINE = {
    "style attribute": r"<[^>]+\sstyle=",
    "style element": r"<style[\s>]",
    "inline script": r"<script(?![^>]*\s(?:src=|type=\"application/json\"))[^>]*>",
    "event handler": r"<[^>]+\son[a-z]+=",
}


def _paths(resolver: URLResolver, prefix: str = "") -> list[str]:
    """Every route without parameters, so that each can be requested as it is."""
    found: list[str] = []
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if "<" in route or "(?P" in route or route.startswith("^"):
            continue
        if isinstance(entry, URLResolver):
            found += _paths(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            found.append("/" + prefix + route)
    return sorted(set(found))


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "privacy-officer"])
def test_every_page_carries_the_security_headers(signed_in, client, staff_client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000  # as in production (served over https)
    settings.SECURE_SSL_REDIRECT = False
    browser = staff_client("privacy_officer") if signed_in else client
    paths = _paths(get_resolver())
    assert len(paths) > 15
    missing = {}
    inline = {}
    for path in [*paths, "/no-such-page/"]:
        response = browser.get(path, secure=True)
        headers = {
            "Content-Security-Policy": "default-src" in response.headers.get("Content-Security-Policy", ""),
            "Strict-Transport-Security": "max-age=31536000" in response.headers.get("Strict-Transport-Security", ""),
            "X-Frame-Options": response.headers.get("X-Frame-Options") == "DENY",
            "X-Content-Type-Options": response.headers.get("X-Content-Type-Options") == "nosniff",
            "Referrer-Policy": bool(response.headers.get("Referrer-Policy")),
        }
        absent = [name for name, ok in headers.items() if not ok]
        if absent:
            missing[f"{path} ({response.status_code})"] = absent
        if response.headers.get("Content-Type", "").startswith("text/html"):
            html = response.content.decode()
            found = [what for what, pattern in INLINE.items() if re.search(pattern, html)]
            if found:
                inline[f"{path} ({response.status_code})"] = found
    assert missing == {}
    assert inline == {}, "the CSP would block these in a browser: use a stylesheet or a script file"


@pytest.mark.django_db
def test_what_staff_see_is_never_cached_and_signing_out_clears_the_browser(staff_client, api_as, client):
    staff = staff_client("customer_support")
    for path in ("/", "/people/"):
        assert staff.get(path).headers.get("Cache-Control") == "no-store", path
    assert staff.post("/people/", {"q": "a"}).headers.get("Cache-Control") == "no-store"
    api = api_as("sales")
    assert api.get("/api/people").headers.get("Cache-Control") == "no-store"
    search = api.post("/api/people/search", {"q": "a"}, content_type="application/json")
    assert search.headers.get("Cache-Control") == "no-store"
    assert client.get("/api/people").headers.get("Cache-Control") == "no-store", "even a refusal"
    notice = client.get("/privacy")
    assert notice.headers.get("Cache-Control") != "no-store", "the public notice may be cached"
    out = staff.post("/logout/")
    assert out.status_code == 302
    assert out.headers["Clear-Site-Data"] == '"cache", "storage"'
