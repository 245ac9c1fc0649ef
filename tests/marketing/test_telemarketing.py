"""Telemarketing (markedsføringsloven §§12-14, policy ``[telemarketing]``) on the call list:

- a Reservasjonsregisteret extract imported from a file (``tillit reservations import``) or
  asked of the lookup service (``tillit reservations lookup``, here a fake service on loopback)
  takes reserved numbers off the marketing call list, except existing customers and people who
  asked us to call; only keyed hashes of the numbers are stored;
- the call list says whether the extract is current and when calls may start;
- a marketing call is logged only within the hours against current register data that covers
  the number, and the check is stored with it; otherwise the log is refused with a clear error.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from tillit.consent import reservations
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent, MarketingCallCheck, ReservationExtract, ReservedNumber
from tillit.marketing.selectors import callable_people
from tillit.people import services as people
from tillit.people.models import Interaction, Person

pytestmark = pytest.mark.django_db

TUESDAY_NOON = dt.datetime(2026, 11, 24, 11, 0, tzinfo=dt.UTC)  # 12:00 in Oslo
TUESDAY_NIGHT = dt.datetime(2026, 11, 24, 20, 30, tzinfo=dt.UTC)  # 21:30 in Oslo
SATURDAY = dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def callees(system_actor, now) -> dict[str, Person]:
    def make(name: str, phone: str) -> Person:
        return people.create_person(actor=system_actor, now=now, source="form", values={"name": name, "phone": phone})

    free = make("Not Reserved", "+4791000001")
    reserved = make("Reserved Prospect", "+4791000002")
    customer = make("Reserved Customer", "+4791000003")
    people.start_customer_relationship(actor=system_actor, now=now, person_id=customer.pk)
    asked = make("Reserved But Asked", "+4791000004")
    # The ledger holds their express request to be called (mfl. §13(2)).
    ConsentEvent.objects.create(
        person=asked,
        purpose="direct_marketing",
        channel="phone",
        action="given",
        basis="consent",
        occurred_at=now,
        source_kind="staff",
        wording="Yes, call me about your offers.",
        language="en",
        notice_version=consent_selectors.current_notice(),
    )
    return {"free": free, "reserved": reserved, "customer": customer, "asked": asked}


def import_file(tmp_path, day: str, *numbers: str) -> str:
    path = tmp_path / f"reservasjoner-{day}.csv"
    path.write_text("telefonnummer\n" + "\n".join(numbers) + "\nnot a number\n", encoding="utf-8")
    out = _run("import", str(path), "--date", day)
    return out


def _run(*args: str) -> str:
    import io

    buffer = io.StringIO()
    call_command("reservations", *args, stdout=buffer)
    return buffer.getvalue()


def listed() -> set[str]:
    return set(callable_people("direct_marketing").values_list("name", flat=True))


@time_machine.travel(TUESDAY_NOON, tick=False)
def test_an_imported_extract_takes_reserved_numbers_off_the_marketing_call_list(callees, tmp_path):
    assert listed() == {"Not Reserved", "Reserved Prospect", "Reserved Customer", "Reserved But Asked"}
    out = import_file(tmp_path, "2026-11-20", "+47 91 00 00 02", "91000003", "+4791000004", "+4799999999")
    assert "4 reserved numbers stored as keyed hashes, 1 lines rejected" in out
    assert "valid until 2026-12-20 (current)" in out
    assert listed() == {"Not Reserved", "Reserved Customer", "Reserved But Asked"}
    # The sales dialogue is not marketing: the register does not apply to it.
    extract = ReservationExtract.objects.get()
    assert (extract.source, extract.complete, extract.reserved_count) == ("file", True, 4)
    # Only keyed hashes: no number, in any form, is in the table.
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest FROM consent_reservednumber")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert ReservedNumber.objects.count() == 4
    for fragment in ("91000002", "4791000003", "99999999"):
        assert fragment not in stored


@time_machine.travel(TUESDAY_NOON, tick=False)
def test_a_new_extract_replaces_the_old_and_a_bad_date_is_refused(callees, tmp_path):
    import_file(tmp_path, "2026-11-01", "+4791000001", "+4791000002")
    import_file(tmp_path, "2026-11-20", "+4791000002")
    assert "Not Reserved" in listed(), "no longer reserved in the extract in force"
    with pytest.raises(CommandError, match=r"expected a date YYYY-MM-DD, got '20-11-2026' \(--date\)"):
        import_file(tmp_path, "20-11-2026", "+4791000001")
    with pytest.raises(CommandError, match=r"the extract date cannot be in the future \(date\)"):
        import_file(tmp_path, "2026-12-24", "+4791000001")
    with pytest.raises(CommandError, match=r"cannot read the extract"):
        _run("import", str(tmp_path / "missing.csv"), "--date", "2026-11-20")


def test_the_call_list_says_when_there_is_no_current_extract(callees, tmp_path, staff_client):
    with time_machine.travel(TUESDAY_NOON, tick=False):
        client = staff_client("sales")
        page = client.get("/call-list/?purpose=direct_marketing").content.decode()
        assert 'data-testid="register-missing"' in page
        import_file(tmp_path, "2026-10-20", "+4791000002")
    with time_machine.travel(TUESDAY_NOON, tick=False):
        page = client.get("/call-list/?purpose=direct_marketing").content.decode()
        assert 'data-testid="register-stale"' in page
        assert "the Reservasjonsregisteret extract of 2026-10-20 may be used only until 2026-11-20" in page
        norwegian = client.get("/call-list/?purpose=direct_marketing", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
        assert "Telefonsalg er stoppet" in norwegian
        # Logging a marketing call on a stale extract is refused, with the reason.
        response = client.post(
            f"/call-list/{callees['free'].pk}/log/", {"purpose": "direct_marketing", "reached": "on"}, follow=True
        )
        assert "the Reservasjonsregisteret extract is older than the law allows" in response.content.decode()
        assert not Interaction.objects.filter(person=callees["free"]).exists()
        # The sales dialogue call list is not telemarketing and says nothing about it.
        assert (
            'data-testid="telemarketing-status"'
            not in client.get("/call-list/?purpose=sales_dialogue").content.decode()
        )


def test_outside_the_hours_the_call_list_says_when_calls_may_start_and_refuses_the_log(callees, tmp_path, staff_client):
    with time_machine.travel(TUESDAY_NOON, tick=False):
        import_file(tmp_path, "2026-11-20", "+4791000002")
    for at, start in ((TUESDAY_NIGHT, "2026-11-25 09:00"), (SATURDAY, "2026-11-30 09:00")):
        with time_machine.travel(at, tick=False):
            client = staff_client("sales")  # signed in then: a staff session idles out
            page = client.get("/call-list/?purpose=direct_marketing").content.decode()
            assert 'data-testid="register-current"' in page
            assert f"calls may start at {start}" in page
            swedish = client.get("/call-list/?purpose=direct_marketing", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
            assert "samtal får börja" in swedish
            response = client.post(
                f"/call-list/{callees['free'].pk}/log/", {"purpose": "direct_marketing", "reached": "on"}, follow=True
            )
            assert f"calls may start at {start}" in response.content.decode()
            assert not Interaction.objects.filter(person=callees["free"]).exists()


def test_a_marketing_call_within_the_hours_is_logged_with_its_check(callees, tmp_path, staff_client, system_actor):
    with time_machine.travel(TUESDAY_NOON, tick=False):
        client = staff_client("sales")
        import_file(tmp_path, "2026-11-20", "+4791000002")
        page = client.get("/call-list/?purpose=direct_marketing").content.decode()
        assert "Within the permitted calling hours" in page
        response = client.post(f"/call-list/{callees['customer'].pk}/log/", {"purpose": "direct_marketing"})
        assert response.status_code == 302
    call = Interaction.objects.get(person=callees["customer"])
    check = MarketingCallCheck.objects.get(interaction=call)
    assert (check.purpose, check.register_source, check.register_extracted_on, check.within_hours) == (
        "direct_marketing",
        "file",
        dt.date(2026, 11, 20),
        True,
    )
    assert MarketingCallCheck.objects.count() == 1
    # The check goes with the person when they are erased.
    from tillit.retention import services as retention

    retention.erase_person(actor=system_actor, now=TUESDAY_NOON, person_id=callees["customer"].pk, reason="request")
    assert not MarketingCallCheck.objects.exists()


# --- the lookup service's adapter, against a fake service on loopback ----------------------


@dataclass
class FakeRegister:
    url: str = ""
    reserved: set[str] = field(default_factory=set)
    extracted_on: str = "2026-11-23"
    status: int = 200
    asked: list[list[str]] = field(default_factory=list)


@pytest.fixture
def fake_register() -> Iterator[FakeRegister]:
    state = FakeRegister()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            assert self.path == "/api/lookup"
            state.asked.append(body["numbers"])
            answer = json.dumps(
                {"extracted_on": state.extracted_on, "reserved": sorted(state.reserved & set(body["numbers"]))}
            ).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_the_lookup_service_checks_every_number_and_a_new_number_is_not_checked(
    callees, fake_register, staff_client, system_actor, settings
):
    fake_register.reserved = {"+4791000002", "+4791000003"}
    settings.TILLIT_RESERVATION_LOOKUP_URL = fake_register.url
    with time_machine.travel(TUESDAY_NOON, tick=False):
        out = _run("lookup")
    assert "lookup of 2026-11-23: 4 numbers checked, 2 reserved" in out
    assert sorted(fake_register.asked[0]) == ["+4791000001", "+4791000002", "+4791000003", "+4791000004"]
    extract = ReservationExtract.objects.get()
    assert (extract.source, extract.complete, extract.checked_count) == ("lookup", False, 4)
    assert listed() == {"Not Reserved", "Reserved Customer", "Reserved But Asked"}
    # Someone added after the lookup was not checked: listed, but marked, and not called.
    late = people.create_person(
        actor=system_actor, now=TUESDAY_NOON, source="form", values={"name": "Added Later", "phone": "+4791000009"}
    )
    with time_machine.travel(TUESDAY_NOON, tick=False):
        client = staff_client("sales")
        page = client.get("/call-list/?purpose=direct_marketing").content.decode()
        assert page.count('data-testid="not-checked"') == 1
        response = client.post(f"/call-list/{late.pk}/log/", {"purpose": "direct_marketing"}, follow=True)
        assert "this number was not checked against the Reservasjonsregisteret" in response.content.decode()
        assert not Interaction.objects.filter(person=late).exists()
        client.post(f"/call-list/{callees['free'].pk}/log/", {"purpose": "direct_marketing"})
    assert MarketingCallCheck.objects.get(person=callees["free"]).register_source == "lookup"


def test_a_failing_lookup_service_is_one_line_and_stores_nothing(callees, fake_register):
    fake_register.status = 503
    with time_machine.travel(TUESDAY_NOON, tick=False):
        with pytest.raises(CommandError, match=r"^the lookup service answered 503 \(url\)$"):
            _run("lookup", "--url", fake_register.url)
        with pytest.raises(CommandError, match=r"must be reached over HTTPS"):
            _run("lookup", "--url", "http://register.example/api")
    assert not ReservationExtract.objects.exists()


def test_the_adapter_is_a_class_with_a_configurable_base_url(fake_register):
    fake_register.reserved = {"+4791000002"}
    client = reservations.LookupClient(fake_register.url, timeout=2)
    answer = client.lookup(["+4791000001", "+4791000002"])
    assert answer.reserved == frozenset({"+4791000002"})
    assert answer.extracted_on == dt.date(2026, 11, 23)
