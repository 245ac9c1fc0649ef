"""Shared fixtures: a fixed "now", actors and API clients per policy role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from tillit import policy
from tillit.accounts import services as account_services
from tillit.accounts.models import User
from tillit.core.actors import Actor

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate limits count in Django's cache; each test starts with no requests counted."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def make_staff(db: None) -> Callable[[str], User]:
    """Create a staff user with the given policy role (username = role)."""

    def make(role: str, username: str | None = None) -> User:
        existing = User.objects.filter(username=username or f"{role}-user").first()
        if existing is not None:
            return existing
        return account_services.create_staff_user(
            actor=Actor.system("tests"),
            now=NOW,
            username=username or f"{role}-user",
            role=role,
            password="correct horse battery staple",
        )

    return make


@pytest.fixture
def staff_actor(make_staff: Callable[[str], User]) -> Callable[[str], Actor]:
    """An Actor for a new staff user with the given role."""

    def make(role: str) -> Actor:
        user = make_staff(role)
        return Actor(kind="staff", role=role, user_id=user.pk, label=f"staff:{user.pk}")

    return make


@pytest.fixture
def api_as(make_staff: Callable[[str], User]) -> Callable[[str], Client]:
    """A test client that sends a fresh API token of a staff user with the given role."""

    def make(role: str) -> Client:
        user = make_staff(role, username=f"api-{role}")
        _, token = account_services.create_api_client(
            actor=Actor.system("tests"), now=NOW, user_id=user.pk, name="tests"
        )
        return Client(headers={"Authorization": f"Bearer {token}"})

    return make


@pytest.fixture
def roles() -> tuple[str, ...]:
    return tuple(policy.current().roles)


def database_url() -> str:
    """A DATABASE_URL for the database the current test uses (for subprocesses)."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or "postgres"
    host = config.get("HOST") or "127.0.0.1"
    port = config.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{config['NAME']}"


def partner_dialogue_with(officer, sales, now, person):  # type: ignore[no-untyped-def]
    """Register Fiberpartner AS and open a sales dialogue with ``person`` in it (ten days
    before ``now``); returns the partner and the dialogue."""
    from tillit.sharing import services as sharing

    partner = sharing.register_partner(
        actor=officer,
        now=now - dt.timedelta(days=30),
        values={
            "key": "fiberpartner",
            "name": "Fiberpartner AS",
            "org_number": "923130969",
            "contact_email": "privacy@fiberpartner.example.com",
            "agreement_reference": "DPA-2026-01",
            "agreement_dated": "2026-01-15",
        },
    )
    dialogue = sharing.open_dialogue(
        actor=sales, now=now - dt.timedelta(days=10), partner_id=partner.pk, kind="sales", title="Fibre 2027"
    )
    sharing.add_to_dialogue(
        actor=sales, now=now - dt.timedelta(days=10), dialogue_id=dialogue.pk, person_ids=[person.pk]
    )
    return partner, dialogue


def disclose_to_a_partner(officer, sales, now, person, *, disclosed_at):  # type: ignore[no-untyped-def]
    """Register Fiberpartner AS, open a sales dialogue with ``person`` in it, and disclose their
    name and email to it at ``disclosed_at``; returns the partner."""
    from tillit.sharing import services as sharing

    partner, dialogue = partner_dialogue_with(officer, sales, now, person)
    sharing.disclose(
        actor=sales, now=disclosed_at, dialogue_id=dialogue.pk, categories=["name", "email"], channel="json"
    )
    return partner


def free_port() -> int:
    """A TCP port free on loopback now (for a server a test starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def immediate_tasks(settings):  # type: ignore[no-untyped-def]
    """Background tasks run at once, in the test (the verification and answer emails)."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "ENQUEUE_ON_COMMIT": False}
    }


@pytest.fixture
def tillit_env() -> dict[str, str]:
    """The environment for running ``tillit`` in a subprocess against the test database."""
    import os

    return {**os.environ, "DATABASE_URL": database_url()}


def sign_in_verified(client: Client, user: User) -> Client:
    """Sign a test client in with both factors done (a confirmed TOTP device, verified)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="tests", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_client(make_staff: Callable[[str], User]) -> Callable[[str], Client]:
    """A test client signed in (password and second factor) as a staff user with the role."""

    def make(role: str) -> Client:
        return sign_in_verified(Client(), make_staff(role))

    return make


@pytest.fixture(autouse=True)
def _published_notice(request: pytest.FixtureRequest) -> None:
    """A privacy notice naming every purpose of the policy is in force (as after `tillit notice
    publish`), so people registered in a test were told about every purpose (§14)."""
    if "django_db" not in request.keywords and "db" not in request.fixturenames:
        return
    request.getfixturevalue("db") if "transactional_db" not in request.fixturenames else None
    from tillit.consent.models import NoticeVersion

    NoticeVersion.objects.get_or_create(
        digest="0" * 64,
        defaults={
            "policy_digest": policy.current().digest,
            "published_at": NOW - dt.timedelta(days=365 * 5),
            "purposes": list(policy.current().purposes),
            "texts": {},
        },
    )


class _Inbox:
    """Messages received by the test SMTP server, parsed with Python's email package."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        from email import message_from_bytes
        from email.policy import default

        message = message_from_bytes(envelope.content, policy=default)
        message.envelope_to = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):  # type: ignore[no-untyped-def]
    """A real SMTP server (aiosmtpd) on loopback; Django's email goes to it over SMTP."""
    from aiosmtpd.controller import Controller

    port = free_port()
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    try:
        yield inbox
    finally:
        controller.stop()
