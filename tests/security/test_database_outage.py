"""PostgreSQL stops under a running app (gunicorn) and starts again: requests during the outage
get a clear 503 with Retry-After, nothing half-written is left, and the service resumes by
itself. The test runs its own, private PostgreSQL cluster (initdb in a temporary directory on a
free port), so that stopping it disturbs nothing else on the machine."""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Cluster:
    """A throwaway PostgreSQL server: initdb, pg_ctl start/stop."""

    def __init__(self, directory: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        assert found, "PostgreSQL's server programs (initdb, pg_ctl) are needed for this test"
        self.bin = Path(found[-1]).parent
        self.data = directory / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(directory, "postgres")
        self.run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(self.data / "log"), "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/tillit"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Directly under /tmp: the postgres user must be able to reach it (pytest's are private).
    directory = Path(tempfile.mkdtemp(prefix="tillit-pg-outage-"))
    server = Cluster(directory)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def tillit(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", *args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def request(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_a_database_outage_gets_503_and_the_service_resumes_by_itself(cluster, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TILLIT_")},
        "DATABASE_URL": cluster.url,
        "TILLIT_DATA_DIR": str(tmp_path / "var"),
        "TILLIT_DEBUG": "false",
        "TILLIT_SECRET_KEY": "outage-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "TILLIT_ALLOWED_HOSTS": "127.0.0.1",
        "TILLIT_SSL_REDIRECT": "false",
    }
    subprocess.run(
        [str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "tillit"],
        check=True,
        timeout=60,
    )
    tillit(env, "migrate", "--noinput")
    tillit(env, "notice", "publish")
    tillit(env, "demo", "--people", "3")
    token = tillit(env, "api_client", "create", "--user", "sales", "--name", "outage").strip().splitlines()[-1]

    port = free_port()
    app = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "-t",
            "30",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if request(port, "GET", "/api/people", token)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the app did not start")
        new_person = {"name": "Testperson Duringoutage", "email": "outage@example.com", "source": "form"}

        cluster.stop()
        status, headers, body = request(port, "GET", "/api/people", token)
        assert status == 503
        assert headers.get("Retry-After") == "5"
        assert json.loads(body)["code"] == "unavailable"
        status, _, body = request(port, "POST", "/api/people", token, new_person)
        assert status == 503, body

        cluster.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = request(port, "GET", "/api/people", token)[0]
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200  # resumed by itself: no restart of the app
        # The write refused during the outage left nothing behind; made again, it succeeds.
        status, _, body = request(port, "POST", "/api/people/search", token, {"q": "outage@example.com"})
        assert json.loads(body)["items"] == []
        status, _, body = request(port, "POST", "/api/people", token, new_person)
        assert status == 201, body
    finally:
        app.terminate()
        app.wait(timeout=30)
