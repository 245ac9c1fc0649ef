"""The rights portal over HTTP: no login, en/sv/nb, the same answer for every address, signed
links that work once, and the answer to an access request behind a signed download link."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time

import pytest
import time_machine
from django.test import Client

from tillit.people import services as people
from tillit.people.models import Person
from tillit.rights.models import DataSubjectRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now):
    with time_machine.travel(now, tick=True):
        yield


def make_person(actor, now, n: int, **values):
    return people.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": f"Testperson Nummer{n}", "email": f"testperson{n}@example.com", "phone": f"412345{n:02d}"}
        | values,
    )


def ask(client: Client, email: str, kind: str = "access", ip: str = "192.0.2.10", **extra):
    return client.post("/rights", {"email": email, "kind": kind, **extra}, REMOTE_ADDR=ip)


def link_path(message) -> str:
    match = re.search(r"http://127\.0\.0\.1:8000(/rights/(?:verify|download)/[^\s?]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("?lang=sv", "", "Dina rättigheter"),
        ("", "nb-NO,nb;q=0.9", "Dine personvernrettigheter"),
        ("", "", "Your privacy rights"),
    ],
)
def test_the_portal_speaks_english_swedish_and_norwegian(query, header, expected):
    response = Client().get(f"/rights{query}", HTTP_ACCEPT_LANGUAGE=header)
    assert response.status_code == 200
    assert expected in response.content.decode()


def test_the_portal_never_asks_for_a_national_identity_number():
    body = Client().get("/rights").content.decode().lower()
    for word in ("national identity", "fødselsnummer", "personnummer", "ssn"):
        assert f'name="{word}' not in body
    assert set(re.findall(r'<(?:input|select|textarea)[^>]*name="([a-z_]+)"', body)) <= {
        "csrfmiddlewaretoken",
        "lang",
        "email",
        "kind",
        "details",
        "correction_field",
        "correction_value",
        "objection_purpose",
        "restriction_grounds",
    }


def test_known_and_unknown_addresses_get_the_same_answer_in_similar_time(system_actor, now):
    # The default task backend queues the link for a worker, so neither request sends mail here:
    # what is compared is exactly what the visitor's request does.
    for n in range(12):
        make_person(system_actor, now, n)
    client = Client()
    ask(client, "warmup@example.com", ip="192.0.2.99")
    known, unknown, bodies = [], [], set()
    for n in range(12):
        for email, timings in ((f"testperson{n}@example.com", known), (f"stranger{n}@example.com", unknown)):
            started = time.perf_counter()
            response = ask(client, email, ip=f"198.51.{n}.1")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
            bodies.add(response.content)
    assert len(bodies) == 1
    assert b"If we hold data for this address, we have sent a link to it." in bodies.pop()
    fast, slow = sorted([statistics.median(known), statistics.median(unknown)])
    assert slow - fast < 0.010 or slow / fast < 1.5, (known, unknown)


def test_unknown_request_types_are_422_and_bad_addresses_too():
    response = ask(Client(), "testperson1@example.com", kind="delete_everyone")
    assert response.status_code == 422
    assert "Please choose what you want us to do." in response.content.decode()
    assert ask(Client(), "not an address").status_code == 422
    assert DataSubjectRequest.objects.count() == 0


def test_repeated_requests_are_rate_limited_with_a_clear_message():
    client = Client()
    for n in range(5):
        assert (
            ask(
                client, "same@example.com", kind=["access", "erasure", "objection", "portability", "withdrawal"][n]
            ).status_code
            == 200
        )
    response = ask(client, "same@example.com")
    assert response.status_code == 429
    assert "Please wait an hour" in response.content.decode()


def test_verify_get_changes_nothing_and_post_completes_an_erasure(system_actor, now, smtp_server, immediate_tasks):
    make_person(system_actor, now, 1)
    assert ask(Client(), "testperson1@example.com", kind="erasure").status_code == 200
    path = link_path(smtp_server.messages[0])
    client = Client(enforce_csrf_checks=True)
    page = client.get(path)  # what a link scanner does
    assert page.status_code == 200
    assert b'data-testid="confirm"' in page.content
    assert Person.objects.count() == 1
    done = client.post(path, {"lang": "en"})
    assert done.status_code == 200
    assert b'data-testid="erased"' in done.content
    assert Person.objects.count() == 0
    again = client.post(path)
    assert again.status_code == 410
    assert b"This link has already been used" in again.content
    assert client.get(path).status_code == 410


def test_forged_and_expired_links_give_a_clear_page(system_actor, now, smtp_server, immediate_tasks):
    make_person(system_actor, now, 1)
    ask(Client(), "testperson1@example.com", kind="erasure")
    path = link_path(smtp_server.messages[0])
    forged = Client().post(path.replace("/verify/", "/verify/x"))
    assert forged.status_code == 400
    assert b"This link does not work" in forged.content
    with time_machine.travel(now + dt.timedelta(hours=25), tick=False):
        expired = Client().post(path)
    assert expired.status_code == 410
    assert b"This link has expired" in expired.content
    assert Person.objects.count() == 1
    assert DataSubjectRequest.objects.get().status == "awaiting_verification"


def test_an_access_request_is_answered_by_a_download_link_not_by_email(system_actor, now, smtp_server, immediate_tasks):
    person = make_person(system_actor, now, 1, name="Testperson Innsyn")
    make_person(system_actor, now, 2, name="Testperson Innsyn")  # same name, another person
    ask(Client(), "testperson1@example.com", kind="access")
    Client().post(link_path(smtp_server.messages[0]))
    answer = smtp_server.messages[-1]
    assert answer["To"] == "testperson1@example.com"
    assert "Testperson Innsyn" not in answer.get_content()  # never the data in the email (checklist 14)
    download = link_path(answer)
    page = Client().get(download)
    assert page.status_code == 200
    for fmt in ("html", "pdf", "json"):
        assert f"{download}{fmt}".encode() in page.content or fmt.encode() in page.content
    data = Client().get(f"{download}json")
    assert data.status_code == 200
    assert "testperson1@example.com" in data.content.decode()
    assert "testperson2@example.com" not in data.content.decode()
    assert Client().get(f"{download}pdf").content.startswith(b"%PDF")
    html = Client().get(f"{download}html")
    style_src = next(d for d in html.headers["Content-Security-Policy"].split(";") if "style-src" in d).split()
    assert style_src[:2] == ["style-src", "'self'"]
    assert len(style_src) == 3, "the page's own inline stylesheet, by its hash"
    assert style_src[2].startswith("'sha256-")
    assert "unsafe-inline" not in html.headers["Content-Security-Policy"]
    assert Client().get(f"{download}zip").status_code == 400  # zip is for portability
    with time_machine.travel(now + dt.timedelta(days=8), tick=False):
        assert Client().get(f"{download}json").status_code == 410
    request = DataSubjectRequest.objects.get()
    assert request.events.filter(kind="downloaded").count() == 3
    assert person.pk


def test_a_portability_request_gets_the_zip(system_actor, now, smtp_server, immediate_tasks):
    make_person(system_actor, now, 1)
    ask(Client(), "testperson1@example.com", kind="portability")
    Client().post(link_path(smtp_server.messages[0]))
    download = link_path(smtp_server.messages[-1])
    response = Client().get(f"{download}zip")
    assert response.status_code == 200
    assert response.content[:2] == b"PK"
