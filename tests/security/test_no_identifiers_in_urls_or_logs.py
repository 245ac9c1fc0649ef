"""No identifiers where erasure cannot reach (DESIGN.md rules 10 and 17): no route takes a
search term or an identifier in its URL, every log tillit writes redacts email addresses and
phone numbers, and SQLite overwrites what it deletes.

The live test runs the app as in production (gunicorn, access and error logs on), searches a
person through the API and the staff UI (its form and its live search), erases them, and then
reads every log file and stream the server wrote: none of their identifiers is there."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from django.utils import timezone

from tillit.accounts import services as account_services
from tillit.api.urls import api
from tillit.core.actors import Actor
from tillit.core.redaction import RedactIdentifiers, redact
from tillit.people import services as people
from tillit.retention import services as retention

from ..conftest import free_port, sign_in_verified

ROOT = Path(__file__).resolve().parents[2]

# Query parameters that may appear in a URL: none names, finds or identifies a person.
ALLOWED_QUERY = {
    "purpose",
    "page",
    "page_size",
    "which",
    "months",
    "channel",
    "include_closed",
    "open_only",
    "language",
    "lang",
    "gpc",
    "days",
    "all",
    "open",
    "next",  # a path inside the staff UI after signing in
    "since",
    "until",
    "person",  # the audit log's filter: an internal id, an opaque handle
    "staff",
    "event",
    "fields",
    "products",  # product keys of the policy (the existing-customer exception)
    # signed tokens (a pseudonymous id, signed; DESIGN.md rule 10)
    "t",
    "d",
}
# Path parameters that are not integer ids: signed tokens and keys without personal data.
OPAQUE_PATH = {"token", "public_id", "slug", "prefix", "fmt", "processor_key", "kind"}  # kind: of a dialogue


def _routes(patterns: list, prefix: str = "") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    for p in patterns:
        converters = dict(getattr(p.pattern, "converters", {}))
        regex = getattr(p.pattern, "regex", None)
        for name in regex.groupindex if regex is not None else ():
            converters.setdefault(name, None)
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if p.namespace == "api":
                continue
            for sub_route, sub in _routes(p.url_patterns, route):
                found.append((sub_route, {**converters, **sub}))
        elif isinstance(p, URLPattern):
            found.append((route, converters))
    return found


def test_no_url_pattern_carries_an_identifier_in_its_path():
    routes = _routes(get_resolver().url_patterns)
    assert any("people/<int:person_id>/" in route for route, _ in routes)
    for route, converters in routes:
        for name, converter in converters.items():
            assert isinstance(converter, IntConverter) or name in OPAQUE_PATH, f"{route}: <{name}>"


def test_no_api_operation_takes_a_search_term_or_identifier_in_the_url():
    schema = api.get_openapi_schema()
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert ("/api/people/search", "post") in {(p, m) for p, m, _ in operations}
    for path, method, op in operations:
        for parameter in op.get("parameters", []):
            where = f"{method.upper()} {path}: {parameter['name']}"
            if parameter["in"] == "query":
                assert parameter["name"] in ALLOWED_QUERY, where
            elif parameter["in"] == "path":
                if parameter["name"] in OPAQUE_PATH:
                    continue
                assert parameter["name"].endswith("_id"), where
                assert parameter["schema"]["type"] == "integer", where


def test_no_view_or_form_reads_an_identifier_from_the_query_string():
    """Every ``request.GET`` read in the code and every field of a GET form or an hx-get in the
    templates is one of the allowed, non-identifying parameters."""
    source = ROOT / "tillit"
    reads = set()
    for path in source.rglob("*.py"):
        reads |= set(re.findall(r"request\.GET(?:\.get|\.getlist)?[\[(]\s*[\"']([^\"']+)[\"']", path.read_text()))
    assert {"page", "purpose"} <= reads
    assert reads <= ALLOWED_QUERY, reads - ALLOWED_QUERY
    for template in source.rglob("*.html"):
        html = template.read_text()
        assert "hx-get" not in html or all(
            "people" not in m and "search" not in m for m in re.findall(r'hx-get="([^"]+)"', html)
        ), template
        for form in re.findall(r'<form[^>]*method="get"[^>]*>(.*?)</form>', html, re.S | re.I):
            names = set(re.findall(r'name="([^"]+)"', form))
            assert names <= ALLOWED_QUERY, f"{template.name}: {names - ALLOWED_QUERY}"


@pytest.mark.django_db
def test_a_search_term_in_the_url_is_refused_and_the_body_is_searched(api_as, system_actor, now):
    people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Sökbar Person", "email": "sokbar@example.com"}
    )
    client = api_as("customer_support")
    refused = client.get("/api/people", {"q": "sokbar@example.com"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "q"
    assert "POST /api/people/search" in refused.json()["message"]
    found = client.post("/api/people/search", {"q": "sokbar@example"}, content_type="application/json").json()
    assert [p["email"] for p in found["items"]] == ["sokbar@example.com"]
    assert client.get("/api/organizations", {"q": "x"}).status_code == 422
    assert client.post("/api/organizations/search", {"q": "x"}, content_type="application/json").status_code == 200


@pytest.mark.django_db
def test_the_staff_search_posts_the_term_and_ignores_one_in_the_url(staff_client, system_actor, now):
    people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Postad Sökning", "email": "postad@example.com"}
    )
    people.create_person(actor=system_actor, now=now, source="form", values={"name": "Annan Person"})
    client = staff_client("customer_support")
    page = client.get("/people/").content.decode()
    assert re.search(r'<form method="post" action="/people/" role="search">', page)
    assert 'hx-post="/people/"' in page
    assert "hx-get" not in page
    in_url = client.get("/people/", {"q": "postad@example.com"}).content.decode()
    assert "Annan Person" in in_url, "a term in the URL is not a search"
    posted = client.post("/people/", {"q": "postad@example", "purpose": "customer_care"}).content.decode()
    assert "Postad Sökning" in posted
    assert "Annan Person" not in posted
    live = client.post("/people/", {"q": "postad"}, headers={"HX-Request": "true"}).content.decode()
    assert "Postad Sökning" in live
    assert "<html" not in live


def test_the_log_filter_redacts_emails_and_phone_numbers_in_every_form():
    assert redact("Not Found: /people/kari.nordmann@example.com/") == "Not Found: /people/[email]/"
    assert redact('"GET /x?q=kari%40example.com HTTP/1.1"') == '"GET /x?q=[email] HTTP/1.1"'
    for phone in ("+47 412 34 567", "41234567", "+4741234567", "0046 70 123 45 67", "%2B4741234567", "412+34+567+8"):
        assert "[phone]" in redact(f"call {phone} now"), phone
        assert not re.search(r"\d{3}", redact(f"call {phone} now")), phone
    for kept in ("2026-12-03 09:28:49", "127.0.0.1", "id 1234567", "200 1234", "person #42"):
        assert redact(kept) == kept

    record = logging.LogRecord(
        "t", logging.WARNING, __file__, 1, '"%s" %s %s', ("POST /x HTTP/1.1", "200", "12345"), None
    )
    RedactIdentifiers().filter(record)
    assert record.getMessage() == '"POST /x HTTP/1.1" 200 12345', "status and size are never joined into a number"
    try:
        raise ValueError("no such person: ola@example.com, +47 412 34 567")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "failed for %s", ("ola@example.com",), sys.exc_info()
        )
    RedactIdentifiers().filter(record)
    text = logging.Formatter().format(record)
    assert "ola@example.com" not in text
    assert "412 34 567" not in text
    assert "[email]" in text


def test_every_handler_tillit_writes_to_redacts():
    config = django_settings.LOGGING
    assert set(config["handlers"]) >= {"console", "django.server"}
    for name, handler in config["handlers"].items():
        assert "redact_identifiers" in handler.get("filters", []), name
    for name in ("", "django", "django.server", "django.request", "tillit"):
        logger = logging.getLogger(name)
        while logger is not None:
            for handler in logger.handlers:
                if not type(handler).__module__.startswith("_pytest"):
                    assert any(isinstance(f, RedactIdentifiers) for f in handler.filters), (name, handler)
            logger = logger.parent if logger.propagate else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="a pragma of SQLite")
def test_sqlite_overwrites_deleted_content_on_every_connection():
    values = []

    def read() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("PRAGMA secure_delete")
            values.append(cursor.fetchone()[0])
        connections["default"].close()

    read()
    thread = threading.Thread(target=read)  # a new thread is a new connection
    thread.start()
    thread.join()
    assert values == [1, 1]


# --- the live server ---------------------------------------------------------------------------


def _request(port: int, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):  # type: ignore[no-untyped-def]
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request(method, path, body=body, headers=headers or {})
        response = client.getresponse()
        return response.status, response.getheaders(), response.read().decode()
    finally:
        client.close()


def _wait_for_server(port: int, app: subprocess.Popen) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        assert app.poll() is None, "gunicorn stopped"
        with contextlib.suppress(OSError):
            _request(port, "GET", "/privacy")
            return
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_search_then_erase_leaves_no_identifier_in_any_log_the_server_wrote(tillit_env, tmp_path, make_staff):
    now = timezone.now()  # the app in its own process runs on the real clock
    system = Actor.system("tests")
    email, phone, name = "logga.sporlos@example.com", "41234567", "Logga Spårlös"
    person = people.create_person(
        actor=system, now=now, source="form", values={"name": name, "email": email, "phone": phone}
    )
    user = make_staff("customer_support")
    _, token = account_services.create_api_client(actor=system, now=now, user_id=user.pk, name="logs")
    browser = sign_in_verified(__import__("django.test").test.Client(), user)
    session = browser.cookies[django_settings.SESSION_COOKIE_NAME].value

    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    env = {**tillit_env, "TILLIT_LOG_LEVEL": "INFO"}
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "1",
        "--log-level",
        "info",
        "--access-logfile",
        str(logs / "access.log"),
        "--error-logfile",
        str(logs / "error.log"),
    ]
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        app = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err)
        try:
            _wait_for_server(port, app)
            api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            for term in (email, phone, "+47 412 34 567", name):
                status, _, body = _request(
                    port, "POST", "/api/people/search", body=json.dumps({"q": term}).encode(), headers=api
                )
                assert status == 200, body
                assert [p["id"] for p in json.loads(body)["items"]] == [person.pk], term

            # The staff UI: the search form, then its live search (htmx), with the session and CSRF token.
            status, headers, page = _request(
                port, "GET", "/people/", headers={"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={session}"}
            )
            assert status == 200, page
            csrf_cookie = next(
                re.search(r"csrftoken=([^;]+)", value).group(1)  # type: ignore[union-attr]
                for key, value in headers
                if key.lower() == "set-cookie" and value.startswith("csrftoken=")
            )
            form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            cookies = f"{django_settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf_cookie}"
            for extra in ({}, {"HX-Request": "true", "X-CSRFToken": form_token}):
                body = urllib.parse.urlencode({"csrfmiddlewaretoken": form_token, "q": email}).encode()
                status, _, page = _request(
                    port,
                    "POST",
                    "/people/",
                    body=body,
                    headers={"Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded", **extra},
                )
                assert status == 200, page[:500]
                assert name in page

            # A client that puts identifiers in a URL anyway: the logs still do not keep them.
            quoted = urllib.parse.quote(email)
            assert _request(port, "GET", f"/nowhere/{quoted}/?phone=%2B4741234567&q={quoted}")[0] == 404
            assert _request(port, "GET", f"/api/people?q={quoted}", headers=api)[0] == 422

            assert retention.erase_person(
                actor=system, now=timezone.now(), person_id=person.pk, reason="request"
            ).erased
        finally:
            app.terminate()
            app.wait(timeout=30)

    written = {path.name: path.read_text(errors="replace") for path in logs.iterdir()}
    assert "POST /api/people/search" in written["access.log"], "the access log was written"
    assert "POST /people/" in written["access.log"]
    assert "[email]" in written["access.log"], "and redacted"
    assert "[phone]" in written["access.log"]
    assert "Not Found" in written["stderr"] + written["error.log"], "Django's request log was written"
    forms = {
        email,
        urllib.parse.quote(email),
        urllib.parse.quote_plus(email),
        "logga.sporlos",
        phone,
        "+4741234567",
        "412 34 567",
        "Logga",
        "Spårlös",
        urllib.parse.quote(name),
        urllib.parse.quote_plus(name),
    }
    for file, text in written.items():
        for identifier in forms:
            assert identifier not in text, f"{identifier!r} in {file}"
