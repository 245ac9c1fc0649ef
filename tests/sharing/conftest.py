"""Fixtures for sharing: a partner, an open dialogue with people in it, and a real HTTPS
endpoint on loopback (a self-signed certificate the test trusts) that checks our signature."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Person
from tillit.sharing import services, transport
from tillit.sharing.models import Dialogue, Partner

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def officer(staff_actor) -> Actor:  # type: ignore[no-untyped-def]
    return staff_actor("privacy_officer")


@pytest.fixture
def sales(staff_actor) -> Actor:  # type: ignore[no-untyped-def]
    return staff_actor("sales")


@pytest.fixture
def partner(officer: Actor) -> Partner:
    return services.register_partner(
        actor=officer,
        now=NOW - dt.timedelta(days=30),
        values={
            "key": "fiberpartner",
            "name": "Fiberpartner AS",
            "org_number": "923130969",
            "contact_email": "privacy@fiberpartner.example.com",
            "agreement_reference": "DPA-2026-01",
            "agreement_dated": "2026-01-15",
        },
    )


def make_people(actor: Actor, n: int, *, prefix: str = "Partnerperson", org: bool = True) -> list[Person]:
    organisation = None
    if org:
        organisation = people.create_organization(
            actor=actor, now=NOW - dt.timedelta(days=20), source="form", values={"name": f"{prefix} Bedrift AS"}
        )
    return [
        people.create_person(
            actor=actor,
            now=NOW - dt.timedelta(days=20),
            source="form",
            values={
                "name": f"{prefix} Nummer{i}",
                "email": f"{prefix.lower()}{i}@example.com",
                "phone": f"+47412345{i:02d}",
                "position": "Innkjøpssjef",
                **({"organization_id": organisation.pk} if organisation else {}),
            },
        )
        for i in range(n)
    ]


@pytest.fixture
def crowd(system_actor) -> list[Person]:  # type: ignore[no-untyped-def]
    return make_people(system_actor, 3)


@pytest.fixture
def dialogue(sales: Actor, partner: Partner, crowd: list[Person]) -> Dialogue:
    opened = services.open_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=10), partner_id=partner.pk, kind="sales", title="Fibre 2027"
    )
    services.add_to_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=10), dialogue_id=opened.pk, person_ids=[p.pk for p in crowd]
    )
    return opened


# --- a real HTTPS endpoint ------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Endpoint:
    """What the partner's endpoint received; ``answers`` are the statuses it gives, in turn
    (the last one repeats); ``delay`` makes it slow (a timeout)."""

    url: str
    secret: str = ""
    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    # Called in the endpoint's thread with each request's headers, before it answers (a test
    # looks at the database from there, as the partner's side of the call).
    on_request: Callable[[dict[str, str]], None] | None = None

    def documents(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.received]


@pytest.fixture(scope="session")
def _certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def endpoint(settings, _certificate) -> Iterator[Endpoint]:  # type: ignore[no-untyped-def]
    cert_path, key_path = _certificate
    state = Endpoint(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            import time

            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            timestamp = int(self.headers.get(transport.TIMESTAMP_HEADER, "0"))
            signed = transport.is_valid_signature(
                state.secret, timestamp, body, self.headers.get(transport.SIGNATURE_HEADER, "")
            )
            state.received.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body), "signed": signed}
            )
            if state.on_request is not None:
                state.on_request(dict(self.headers))
            if state.delay:
                time.sleep(state.delay)
            status = state.answers[min(len(state.received), len(state.answers)) - 1]
            self.send_response(status if signed else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TILLIT_PARTNER_CA_FILE = str(cert_path)
    settings.TILLIT_PARTNER_TIMEOUT = 2
    # The test partner listens on loopback, which the server-side request forgery guard refuses
    # in production (see test_an_internal_endpoint_is_never_called).
    settings.TILLIT_PARTNER_ALLOW_INTERNAL = True
    state.url = f"https://127.0.0.1:{server.server_address[1]}/tillit"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def connect(officer: Actor) -> Callable[[Partner, Endpoint], Partner]:
    """Give the partner the endpoint's URL, and the endpoint the partner's secret."""

    def make(partner: Partner, endpoint: Endpoint) -> Partner:
        updated = services.update_partner(
            actor=officer,
            now=NOW - dt.timedelta(days=29),
            partner_id=partner.pk,
            changes={"endpoint_url": endpoint.url},
        )
        endpoint.secret = updated.signing_secret
        return updated

    return make
