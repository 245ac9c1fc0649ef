"""Staff sign-in: password + TOTP, enrolment by QR code, one message for a wrong password or a
wrong code, lock-out, Argon2 hashes, idle and absolute expiry, closed accounts lose their sessions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.accounts import services
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset * device.step
    return f"{totp.token():06d}"


@pytest.fixture
def enrolled(make_staff):
    user = make_staff("sales")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


def sign_in(client: Client, username: str, password: str, code: str = ""):
    return client.post("/login/", {"username": username, "password": password, "code": code})


def test_passwords_are_hashed_with_argon2(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    assert make_password(PASSWORD).startswith("argon2")


def test_sign_in_with_password_and_code(enrolled):
    user, device = enrolled
    client = Client()
    response = sign_in(client, user.username, PASSWORD, code_for(device))
    assert response.status_code == 302
    assert client.get("/people/").status_code == 200


@pytest.mark.parametrize("wrong", ["password", "code"])
def test_wrong_password_or_code_gets_the_same_message(enrolled, wrong):
    user, device = enrolled
    password = "not the password" if wrong == "password" else PASSWORD
    code = "000000" if wrong == "code" else code_for(device)
    if code == code_for(device) and wrong == "code":  # one in a million: the wrong code is right
        code = "000001"
    response = sign_in(Client(), user.username, password, code)
    assert response.status_code == 401
    assert "Wrong username, password or code." in response.content.decode()
    assert "_auth_user_id" not in Client().session


def test_repeated_failures_lock_the_account_whatever_failed(enrolled):
    user, device = enrolled
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        wrong_code = attempt % 2 == 0
        sign_in(client, user.username, PASSWORD if wrong_code else "wrong", "000000" if wrong_code else "")
    locked = sign_in(client, user.username, PASSWORD, code_for(device))
    assert locked.status_code == 429
    assert "locked" in locked.content.decode()


def test_first_sign_in_enrols_a_device_by_qr_code(make_staff):
    user = make_staff("marketing")
    client = Client()
    response = sign_in(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/enrol/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.content
    assert client.get("/people/").status_code == 302, "not signed in before the code is confirmed"
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page.content.decode()).group(1)
    assert secret
    wrong = client.post("/login/enrol/", {"code": "123"})
    assert wrong.status_code == 401
    # A failed code throttles the device for a moment (django-otp); wait it out by travelling.
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=5)):
        done = client.post("/login/enrol/", {"code": code_for(device)})
    assert done.status_code == 302
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/people/").status_code == 200


def test_a_signed_in_user_without_the_second_factor_is_sent_to_sign_in(make_staff):
    client = Client()
    client.force_login(make_staff("sales"))
    response = client.get("/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_closing_an_account_ends_its_sessions_at_once(enrolled, make_staff, now):
    user, device = enrolled
    client = Client()
    sign_in(client, user.username, PASSWORD, code_for(device))
    assert client.get("/people/").status_code == 200
    admin = make_staff("administrator")
    ended = services.deactivate_staff(
        actor=Actor(kind="staff", role="administrator", user_id=admin.pk, label=f"staff:{admin.pk}"),
        now=now,
        user_id=user.pk,
    )
    assert ended == 1
    assert client.get("/people/").status_code == 302
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]


def test_a_session_ends_after_30_idle_minutes(enrolled):
    user, device = enrolled
    start = dt.datetime.now(tz=dt.UTC)
    client = Client()
    with time_machine.travel(start, tick=False):
        sign_in(client, user.username, PASSWORD, code_for(device))
    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        assert client.get("/people/").status_code == 200, "still active"
    with time_machine.travel(start + dt.timedelta(minutes=29 + 31), tick=False):
        response = client.get("/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert settings.SESSION_COOKIE_HTTPONLY


def test_a_session_ends_after_12_hours_however_active(enrolled):
    user, device = enrolled
    start = dt.datetime.now(tz=dt.UTC)
    client = Client()
    with time_machine.travel(start, tick=False):
        sign_in(client, user.username, PASSWORD, code_for(device))
    statuses = []
    for step in range(1, 40):  # a request every 20 minutes for 13 hours
        with time_machine.travel(start + dt.timedelta(minutes=20 * step), tick=False):
            statuses.append((step * 20 / 60, client.get("/people/").status_code))
    assert all(code == 200 for hours, code in statuses if hours <= 12)
    assert next(hours for hours, code in statuses if code != 200) == pytest.approx(12 + 1 / 3)
    with time_machine.travel(start + dt.timedelta(hours=14), tick=False):
        assert client.get("/people/").status_code == 302, "signed out, not just refused once"


def test_pages_carry_a_content_security_policy_and_csrf_protection(enrolled):
    response = Client().get("/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    strict = Client(enforce_csrf_checks=True)
    user, device = enrolled
    assert sign_in(strict, user.username, PASSWORD, code_for(device)).status_code == 403


def test_sign_ins_failures_sign_outs_and_refusals_are_on_the_audit_chain(enrolled, api_as):
    user, device = enrolled
    sign_in(Client(), user.username, "not the password", code_for(device))
    sign_in(Client(), "nobody-we-know", PASSWORD, "123456")
    client = Client()
    sign_in(client, user.username, PASSWORD, code_for(device))
    assert client.get("/staff/").status_code == 403  # sales may not manage staff accounts
    client.post("/logout/")
    entries = list(AuditEntry.objects.filter(action__startswith="sign_in").order_by("pk"))
    assert [(e.action, e.subject_id) for e in entries] == [
        ("sign_in_failed", user.pk),
        ("sign_in_failed", None),
        ("sign_in_signed_in", user.pk),
        ("sign_in_signed_out", user.pk),
    ]
    assert entries[0].actor_label == "system:sign-in", "a failed attempt is not the user's act"
    assert "nobody-we-know" not in str([vars(e) for e in entries]), "never the username typed"
    refused = AuditEntry.objects.get(action="refused")
    assert (refused.actor_user_id, refused.fields) == (user.pk, ["web:staff"])
    sales_api = api_as("sales")
    response = sales_api.generic("POST", "/api/marketing/delivery-notices", b"x", content_type="message/rfc822")
    assert response.status_code == 403
    api_refusal = AuditEntry.objects.filter(action="refused").exclude(pk=refused.pk).get()
    assert api_refusal.fields[0].startswith("api")
