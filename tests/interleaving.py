"""Helpers for tests that force an interleaving: a function run in another thread (its own
database connection, closed at the end), and waiting until a connection is blocked on a lock
(PostgreSQL: ``pg_stat_activity``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, connections


class Background:
    """Run ``fn`` in a thread with its own database connection; ``result()`` joins and
    returns what it returned (or raises what it raised)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as error:  # handed to the test in result()
            self._error = error
        finally:
            connections.close_all()

    def result(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the other thread did not finish"
        if self._error is not None:
            raise self._error
        return self._value


def backend_pid() -> int:
    """The PostgreSQL backend of this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def is_waiting_for_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0])


def wait_until_blocked(pid: int, timeout: float = 5.0) -> bool:
    """Wait until the backend ``pid`` waits for a lock; False if it never did within
    ``timeout`` (the code under test took no lock there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_waiting_for_lock(pid):
            return True
        time.sleep(0.01)
    return False
