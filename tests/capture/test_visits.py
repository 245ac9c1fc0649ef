"""Site visits (policy §4 technical information, §15 cookies): recorded only after statistics
consent given in the banner, never for a browser that sends GPC without actively opting in,
linked to a person only with their consent; raw visits kept 13 months, counts kept."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.capture import services as capture_services
from tillit.capture import tasks as capture_tasks
from tillit.capture import visits
from tillit.capture.models import DailyVisits, FormIntake, Visit, VisitDay, VisitorLink
from tillit.consent import services as consent_services
from tillit.consent.models import ConsentEvent, CookieChoice, NoticeVersion
from tillit.people import services as people
from tillit.people.models import Person
from tillit.policy import cookies as rules
from tillit.policy import retention as retention_rules

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAME_ORIGIN = {"HTTP_ORIGIN": "http://testserver"}


def state(client: Client, **params: str) -> dict:
    response = client.get("/cookies/state", {"lang": "en", **params})
    assert response.status_code == 200
    return response.json()


def choose(client: Client, categories: list[str], **extra: str) -> dict:
    wording = state(client)["wording"]
    response = client.post(
        "/cookies/choice", {"categories": categories, "wording": wording, "lang": "en"}, **SAME_ORIGIN, **extra
    )
    assert response.status_code == 200, response.content
    return response.json()


def visit(client: Client, url: str = "https://www.example.com/products?email=kari@example.com#top", **extra: str):
    return client.post(
        "/visits",
        {"url": url, "referrer": "https://search.example.org/results?q=secret"},
        HTTP_USER_AGENT=CHROME,
        HTTP_ACCEPT_LANGUAGE="nb-NO,nb;q=0.9,en;q=0.5",
        REMOTE_ADDR="198.51.100.77",
        **SAME_ORIGIN,
        **extra,
    )


# --- consent first --------------------------------------------------------------------------


def test_no_visit_and_no_cookie_before_a_choice():
    client = Client()
    assert state(client)["ask"] is True
    response = visit(client)
    assert response.json() == {"recorded": False}
    assert Visit.objects.count() == 0
    assert rules.VISITOR_COOKIE not in response.cookies
    assert not client.cookies


def test_after_accepting_statistics_a_visit_is_recorded_with_technical_information_only():
    client = Client()
    answer = choose(client, ["statistics"])
    assert answer["allowed"] == ["statistics"]
    assert answer["ask"] is False
    assert client.cookies[rules.CONSENT_COOKIE].value
    assert client.cookies[rules.VISITOR_COOKIE].value
    response = visit(client)
    assert response.json() == {"recorded": True}
    row = Visit.objects.get()
    assert row.url == "https://www.example.com/products", "no query string, no fragment"
    assert row.path == "/products"
    assert row.referrer == "https://search.example.org/results"
    assert row.ip == "198.51.100.0", "shortened as in the consent ledger"
    assert (row.browser, row.operating_system, row.language) == ("Chrome", "Windows", "nb-NO")
    assert str(row.visitor_id) == client.cookies[rules.VISITOR_COOKIE].value
    assert row.person_id is None


def test_after_rejecting_nothing_is_recorded_and_no_statistics_cookie_is_set():
    client = Client()
    answer = choose(client, [])
    assert answer["allowed"] == []
    assert answer["ask"] is False
    assert rules.VISITOR_COOKIE not in client.cookies or not client.cookies[rules.VISITOR_COOKIE].value
    assert visit(client).json() == {"recorded": False}
    assert Visit.objects.count() == 0
    choice = CookieChoice.objects.get()
    assert choice.categories == []
    assert choice.evidence_ip == "127.0.0.0"


def test_accepting_only_functional_cookies_does_not_count_visits():
    client = Client()
    choose(client, ["functional"])
    assert visit(client).json() == {"recorded": False}


def test_withdrawing_clears_the_statistics_cookie_and_stops_counting():
    client = Client()
    choose(client, ["statistics", "functional"])
    assert visit(client).json()["recorded"] is True
    client.cookies[rules.FIELDS_COOKIE] = "remembered form fields"  # set by a form's script
    wording = state(client)["wording"]
    response = client.post("/cookies/choice", {"wording": wording, "lang": "en"}, **SAME_ORIGIN)
    assert response.cookies[rules.VISITOR_COOKIE]["max-age"] == 0, "the server's answer clears it"
    assert response.cookies[rules.FIELDS_COOKIE]["max-age"] == 0
    assert set(response.json()["clear"]) == {rules.VISITOR_COOKIE, rules.FIELDS_COOKIE}
    assert visit(client).json() == {"recorded": False}
    assert Visit.objects.count() == 1
    assert [c.categories for c in CookieChoice.objects.order_by("pk")] == [["functional", "statistics"], []]


def test_a_stale_statistics_cookie_without_consent_is_cleared():
    client = Client()
    client.cookies[rules.VISITOR_COOKIE] = str(uuid.uuid4())
    response = visit(client)
    assert response.json() == {"recorded": False}
    assert response.cookies[rules.VISITOR_COOKIE]["max-age"] == 0


def test_a_new_notice_version_asks_again_and_stops_counting_until_then(now):
    client = Client()
    choose(client, ["statistics"])
    assert visit(client).json()["recorded"] is True
    NoticeVersion.objects.create(
        digest="1" * 64, policy_digest=policy.current().digest, published_at=now, purposes=[], texts={}
    )
    answer = state(client)
    assert answer["ask"] is True
    assert answer["changed"] is True
    assert answer["allowed"] == []
    assert visit(client).json() == {"recorded": False}
    choose(client, ["statistics"])
    assert visit(client).json()["recorded"] is True


# --- Global Privacy Control -------------------------------------------------------------------


def test_with_gpc_the_banner_does_not_ask_and_nothing_is_recorded():
    client = Client(HTTP_SEC_GPC="1")
    answer = state(client)
    assert answer["gpc"] is True
    assert answer["ask"] is False
    assert answer["allowed"] == []
    assert visit(client).json() == {"recorded": False}
    assert Visit.objects.count() == 0
    assert not client.cookies


def test_gpc_from_the_browser_script_counts_as_the_signal():
    assert state(Client(), gpc="1")["ask"] is False


def test_with_gpc_an_explicit_opt_in_is_respected_and_recorded_as_made_with_gpc():
    client = Client(HTTP_SEC_GPC="1")
    choose(client, ["statistics"])
    assert visit(client).json()["recorded"] is True
    assert CookieChoice.objects.get().gpc is True


# --- bad input and forged choices ----------------------------------------------------------------


def test_a_choice_from_another_website_is_refused():
    client = Client()
    wording = state(client)["wording"]
    response = client.post(
        "/cookies/choice",
        {"categories": ["statistics"], "wording": wording, "lang": "en"},
        HTTP_ORIGIN="https://evil.example.net",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_origin"
    assert CookieChoice.objects.count() == 0


def test_an_embedding_website_listed_in_the_settings_may_choose(settings):
    settings.TILLIT_EMBED_ORIGINS = ["https://www.example.com"]
    client = Client()
    wording = state(client)["wording"]
    response = client.post(
        "/cookies/choice", {"categories": [], "wording": wording, "lang": "en"}, HTTP_ORIGIN="https://www.example.com"
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert response["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"categories": ["marketing"]}, "categories"),
        ({"categories": ["statistics"], "wording": "0" * 64}, "wording"),
        ({"categories": ["statistics"], "lang": "de"}, "lang"),
    ],
)
def test_a_bad_choice_is_a_clear_422_and_nothing_is_stored(data, field):
    client = Client()
    body = {"wording": state(client)["wording"], "lang": "en", **data}
    if body["lang"] == "de":
        body["lang"] = "en"
        body["wording"] = state(client, lang="sv")["wording"]
        field = "wording"
    response = client.post("/cookies/choice", body, **SAME_ORIGIN)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert CookieChoice.objects.count() == 0


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://example.com/x", "x" * 3000])
def test_a_visit_to_something_that_is_not_a_web_page_is_refused(url):
    client = Client()
    choose(client, ["statistics"])
    response = visit(client, url=url)
    assert response.status_code == 422
    assert response.json()["field"] == "url"


def test_signed_link_tokens_never_end_up_in_the_visits():
    client = Client()
    choose(client, ["statistics"])
    visit(client, url="https://crm.example.com/consent/eyJwIjoiYWJjIn0:1vQx2y:AbCdEfGhIjKlMnOp/")
    assert Visit.objects.get().path == "/consent/…/"


def test_cookie_choices_are_append_only():
    from django.db import DatabaseError, transaction

    client = Client()
    choose(client, ["statistics"])
    choice = CookieChoice.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        CookieChoice.objects.filter(pk=choice.pk).update(categories=[])


def test_the_banner_speaks_swedish_and_norwegian():
    sv = state(Client(), lang="sv")
    nb = state(Client(), lang="nb")
    assert [c["label"] for c in sv["texts"]["categories"]] == ["Nödvändiga", "Funktionella", "Statistik"]
    assert [c["label"] for c in nb["texts"]["categories"]] == ["Nødvendige", "Funksjonelle", "Statistikk"]
    assert sv["wording"] != nb["wording"]


# --- linking to a person ------------------------------------------------------------------------


@pytest.fixture
def kari(system_actor, now):
    return people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Kari Nordmann", "email": "kari@example.com"}
    )


def ids(client: Client) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(client.cookies[rules.CONSENT_COOKIE].value), uuid.UUID(client.cookies[rules.VISITOR_COOKIE].value)


def test_a_visitor_is_linked_to_a_person_only_with_their_statistics_consent(kari, system_actor, now):
    client = Client()
    choose(client, ["statistics"])
    visit(client)
    browser_id, visitor_id = ids(client)
    assert not visits.link_visitor_to_person(
        actor=system_actor, now=now, browser_id=browser_id, visitor_id=visitor_id, person_id=kari.pk
    ), "no consent to statistics in the ledger"
    consent_services.record_consent(
        actor=system_actor,
        now=now,
        person_id=kari.pk,
        purpose="statistics",
        channel="web",
        source_kind="form",
        wording="Link my visits to my enquiry so you can see what I looked at.",
        language="en",
    )
    assert visits.link_visitor_to_person(
        actor=system_actor, now=now, browser_id=browser_id, visitor_id=visitor_id, person_id=kari.pk
    )
    visit(client, url="https://www.example.com/pricing")
    first, second = Visit.objects.order_by("pk")
    assert first.person_id is None, "visits before identifying stay anonymous"
    assert second.person_id == kari.pk


def test_no_link_without_statistics_cookie_consent(kari, system_actor, now):
    client = Client()
    choose(client, ["functional"])
    browser_id = uuid.UUID(client.cookies[rules.CONSENT_COOKIE].value)
    assert not visits.link_visitor_to_person(
        actor=system_actor, now=now, browser_id=browser_id, visitor_id=uuid.uuid4(), person_id=kari.pk
    )
    assert VisitorLink.objects.count() == 0


def test_erasing_the_person_erases_their_linked_visits(kari, system_actor, now):
    from tillit.retention.services import erase_person

    client = Client()
    choose(client, ["statistics"])
    browser_id, visitor_id = ids(client)
    consent_services.record_consent(
        actor=system_actor,
        now=now,
        person_id=kari.pk,
        purpose="statistics",
        channel="web",
        source_kind="form",
        wording="Link my visits.",
        language="en",
    )
    visits.link_visitor_to_person(
        actor=system_actor, now=now, browser_id=browser_id, visitor_id=visitor_id, person_id=kari.pk
    )
    visit(client)
    visit(Client(), url="https://www.example.com/")  # someone else, without consent: not recorded
    erase_person(actor=system_actor, now=now, person_id=kari.pk, reason="request")
    assert Visit.objects.count() == 0
    assert VisitorLink.objects.count() == 0


# --- statistics and retention -------------------------------------------------------------------


def make_visit(at: dt.datetime, path: str = "/", ua: str = CHROME, visitor: uuid.UUID | None = None) -> Visit:
    browser, system = visits.browser_and_system(ua)
    return Visit.objects.create(
        visited_at=at,
        day=visits.local_day(at),
        visitor_id=visitor or uuid.uuid4(),
        url=f"https://www.example.com{path}",
        path=path,
        browser=browser,
        operating_system=system,
        language="en-GB",
    )


def test_finished_days_are_counted_once_without_personal_data(now):
    same = uuid.uuid4()
    yesterday = now - dt.timedelta(days=1)
    make_visit(yesterday, "/a", visitor=same)
    make_visit(yesterday, "/a", visitor=same)
    make_visit(yesterday, "/a", ua=FIREFOX)
    make_visit(now, "/a")  # today: not finished, not counted yet
    assert visits.aggregate_visits(now=now) == 1
    assert visits.aggregate_visits(now=now) == 0, "each day once"
    rows = {(r.path, r.browser, r.operating_system): (r.visits, r.visitors) for r in DailyVisits.objects.all()}
    assert rows == {("/a", "Chrome", "Windows"): (2, 1), ("/a", "Firefox", "Ubuntu"): (1, 1)}
    assert VisitDay.objects.get().visits == 3


def test_raw_visits_are_deleted_after_thirteen_months_and_their_counts_stay(now, system_actor):
    cutoff = retention_rules.raw_visits_cutoff(policy.current(), now)
    assert cutoff == dt.datetime(2025, 10, 24, 11, 0, tzinfo=dt.UTC), "13:00 in Oslo, summer time then"
    make_visit(cutoff - dt.timedelta(seconds=1), "/old")
    make_visit(cutoff + dt.timedelta(seconds=1), "/kept")
    result = visits.sweep_raw_visits(actor=system_actor, now=now)
    assert result.deleted == 1
    assert list(Visit.objects.values_list("path", flat=True)) == ["/kept"]
    assert set(DailyVisits.objects.values_list("path", flat=True)) == {"/old", "/kept"}


def test_a_day_not_yet_counted_is_never_deleted(now, system_actor):
    old = now - dt.timedelta(days=500)
    make_visit(old, "/old")
    VisitDay.objects.create(day=visits.local_day(old) - dt.timedelta(days=1), aggregated_at=now, visits=0)
    # The sweep counts first; only then deletes.
    result = visits.sweep_raw_visits(actor=system_actor, now=now)
    assert result.days_counted == 1
    assert result.deleted == 1
    assert DailyVisits.objects.get().path == "/old"


def test_the_cutoff_is_calendar_months_in_oslo():
    p = policy.current()
    at = dt.datetime(2027, 3, 31, 10, 0, tzinfo=dt.UTC)
    assert retention_rules.raw_visits_cutoff(p, at) == dt.datetime(2026, 2, 28, 11, 0, tzinfo=dt.UTC)
    leap = dt.datetime(2029, 3, 29, 10, 0, tzinfo=dt.UTC)
    assert retention_rules.raw_visits_cutoff(p, leap) == dt.datetime(2028, 2, 29, 11, 0, tzinfo=dt.UTC)


def test_the_visits_endpoint_records_the_local_day(now):
    client = Client()
    choose(client, ["statistics"])
    with time_machine.travel(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), tick=False):
        visit(client)
    assert Visit.objects.get().day == dt.date(2027, 1, 1), "00:30 in Oslo"


def test_the_policy_declares_the_cookies_the_code_sets():
    p = policy.current()
    assert rules.category_of_cookie(p, rules.CONSENT_COOKIE) in {
        k for k, c in p.cookies.items() if not c.consent_required
    }
    assert rules.category_of_cookie(p, rules.VISITOR_COOKIE) == rules.category_for_purpose(p, "statistics")
    assert rules.category_of_cookie(p, rules.FIELDS_COOKIE) in rules.optional_categories(p)


def test_the_state_answer_sets_no_cookie():
    response = Client().get("/cookies/state", {"lang": "nb"})
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content)["lang"] == "nb"


def test_the_staff_page_shows_counts_to_marketing_and_the_privacy_officer(staff_client, now):
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    make_visit(yesterday, "/pricing")
    make_visit(yesterday, "/pricing", ua=FIREFOX)
    visits.aggregate_visits(now=dt.datetime.now(dt.UTC))
    page = staff_client("marketing").get("/statistics/visits/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "/pricing" in text
    assert "Firefox" in text
    assert "Chrome" in text
    assert staff_client("privacy_officer").get("/statistics/visits/?days=7").status_code == 200
    assert staff_client("sales").get("/statistics/visits/").status_code == 403


# --- linked through a form: the box that links visits ------------------------------------------


@pytest.fixture
def visits_form(make_form):
    return make_form(
        fields=[{"name": "name"}, {"name": "email"}],
        consents=[{"purpose": "newsletter", "channel": "email"}, {"purpose": "statistics", "channel": "web"}],
    )


def submit(client: Client, form, *, link: bool, newsletter: bool = False):  # type: ignore[no-untyped-def]
    data = {"name": "Kari Nordmann", "email": "kari@example.com"}
    if link:
        data["consent_statistics_web"] = "on"
    if newsletter:
        data["consent_newsletter_email"] = "on"
    response = client.post(f"/forms/{form.public_id}/", data, REMOTE_ADDR="198.51.100.77")
    assert response.status_code == 303, response.content
    return response


@pytest.mark.parametrize("intake", ["inline", "queued"])
def test_ticking_the_forms_visits_box_links_this_browsers_visits_to_the_person(
    visits_form, intake, settings, system_actor, now
):

    settings.TILLIT_FORM_INTAKE = intake
    box = next(c for c in visits_form.consents if c["channel"] == "web")
    assert box["wording"] == (
        "Yes, Avara AS may link my visits to this website to me, for: Statistics about use of our website, "
        "to improve it. I can withdraw this consent at any time."
    )
    client = Client()
    choose(client, ["statistics"])
    visit(client)  # before identifying: anonymous
    submit(client, visits_form, link=True)
    if intake == "queued":
        assert VisitorLink.objects.count() == 0, "nothing about a person is written before the drain"
        capture_services.process_intake(actor=system_actor, now=now)
    kari = Person.objects.get(email="kari@example.com")
    assert ConsentEvent.objects.get(person=kari, purpose="statistics").wording == box["wording"]
    link = VisitorLink.objects.get()
    assert (link.person_id, str(link.visitor_id)) == (kari.pk, client.cookies[rules.VISITOR_COOKIE].value)
    assert link.source_ref == f"form:{visits_form.public_id}"
    visit(client, url="https://www.example.com/pricing")
    first, second = Visit.objects.order_by("pk")
    assert (first.person_id, second.person_id) == (None, kari.pk)


def test_without_the_tick_or_without_statistics_cookies_the_visits_stay_anonymous(
    visits_form, settings, system_actor, now
):

    settings.TILLIT_FORM_INTAKE = "queued"
    unticked = Client()
    choose(unticked, ["statistics"])
    submit(unticked, visits_form, link=False)
    intake = FormIntake.objects.get()
    assert (intake.browser_id, intake.visitor_id) == (None, None), "the ids are not even kept without the tick"
    no_cookies = Client()
    choose(no_cookies, ["functional"])  # ticked the box, but the banner said no to statistics
    submit(no_cookies, visits_form, link=True)
    assert capture_services.process_intake(actor=system_actor, now=now) == 2
    assert VisitorLink.objects.count() == 0
    visit(unticked)
    assert Visit.objects.get().person_id is None


def test_withdrawing_statistics_in_the_banner_unlinks_the_browser_and_deletes_its_linked_visits(
    visits_form, system_actor, now
):
    client = Client()
    choose(client, ["statistics"])
    visit(client)  # anonymous, before the form
    submit(client, visits_form, link=True)
    visit(client, url="https://www.example.com/pricing")
    assert Visit.objects.filter(person__isnull=False).count() == 1

    choose(client, [])  # the footer link: withdraw statistics
    assert VisitorLink.objects.count() == 0
    assert Visit.objects.filter(person__isnull=False).count() == 0, "the visits under the person are deleted"
    assert Visit.objects.count() == 1, "the anonymous visit from before stays anonymous"
    kari = Person.objects.get(email="kari@example.com")
    assert AuditEntry.objects.filter(action="visitor_unlinked", subject_id=kari.pk).exists()


def test_withdrawing_statistics_consent_unlinks_within_one_daily_job(visits_form, system_actor, now):
    client = Client()
    choose(client, ["statistics"])
    submit(client, visits_form, link=True, newsletter=True)  # the newsletter keeps her after the withdrawal
    visit(client, url="https://www.example.com/pricing")
    kari = Person.objects.get(email="kari@example.com")
    assert Visit.objects.get().person_id == kari.pk

    withdrawn = consent_services.withdraw_consent(  # after the form (which ran on the real clock)
        actor=system_actor,
        now=timezone.now(),
        person_id=kari.pk,
        purpose="statistics",
        source_kind="email_link",
        language="en",
    )
    assert (withdrawn.withdrawn, withdrawn.erased) == ([("statistics", "web")], False)
    visit(client, url="https://www.example.com/contact")
    assert Visit.objects.filter(person__isnull=True).count() == 1, "no new visit is linked after the withdrawal"
    assert capture_tasks.sweep_raw_visits.call()["unlinked"] == 1
    assert VisitorLink.objects.count() == 0
    assert not Visit.objects.filter(person__isnull=False).exists()
    assert capture_tasks.sweep_raw_visits.call()["unlinked"] == 0, "nothing twice"
