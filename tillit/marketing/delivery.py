"""Handing one message to the SMTP server with a claim in between: exactly once, as far as
SMTP allows.

A send record is claimed (committed as ``sending``) after the server has taken the whole
message except its final line (``.``), and the final line goes out right after the claim:

    MAIL FROM, RCPT TO, DATA, the message          -> the server holds it, not yet accepted
    claim: UPDATE ... SET status='sending' WHERE status='pending'; COMMIT
    "." -> 250 accepted                               -> UPDATE ... SET status='sent'

- A worker killed before the claim delivered nothing: a server drops a DATA whose end never
  came. The record is still ``pending`` and is sent on the retry.
- A worker killed after the claim has handed the message over; the record stays ``sending``
  ("in doubt") and is never sent again (at most once): a retry marks it sent, unconfirmed.
- The claim's COMMIT and the message's last line leave together: the COMMIT is sent to the
  database without waiting for its answer, the ".\r\n" goes to the SMTP server, and only
  then is the COMMIT's answer read (``claim_record``). A worker killed before the COMMIT left
  has claimed nothing and sent nothing; one killed after both left has sent the message and
  claimed it. What remains in doubt is the instant between two writes to two sockets inside
  our process (no round trip, no disk wait). On PostgreSQL the claim does not wait for the
  WAL flush (``synchronous_commit = off`` for that one transaction): if the *database
  server* crashes within a fraction of a second of a claim, the claim may be lost and that one
  message sent again on the retry. We chose at-most-once
  for a killed worker: the alternative (mark sent only after the 250, retry everything
  unconfirmed) sends a duplicate whenever a worker dies while the server is processing the
  message, a window of a full round trip plus the server's work.

The claim re-checks the rule for the one person (``Recheck``): it share-locks the person's row,
then claims only if the audience query still holds them, so an objection, unsubscribe or
withdrawal that committed before the claim always stops the message, and one still being
written waits for the claim's commit (the message then went before the change of mind).

Each message's Message-ID is fixed by its send record, so a duplicate would be recognisable.
"""

from __future__ import annotations

import re
import select
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from smtplib import SMTP, SMTPRecipientsRefused, SMTPSenderRefused
from typing import Any

from django.core.mail import EmailMessage
from psycopg import pq

CLAIMED, TAKEN, REFUSED, REJECTED = "claimed", "taken", "refused", "rejected"
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _smtp(connection: Any) -> SMTP | None:
    """The open smtplib connection of a Django SMTP backend (None for other backends)."""
    smtp = getattr(connection, "connection", None)
    if smtp is None and hasattr(connection, "open") and hasattr(connection, "host"):
        connection.open()
        smtp = getattr(connection, "connection", None)
    if not isinstance(smtp, SMTP):
        return None
    if smtp.sock is not None:
        # The message's last line goes out as its own small write after the claim: without
        # TCP_NODELAY, Nagle's algorithm holds it until the server's delayed ACK (~40 ms).
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return smtp


Handover = Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class Recheck:
    """The rule, asked again inside the claim: the person's row (``person_table``, id
    ``person_id``) is share-locked first, so a concurrent objection, unsubscribe or withdrawal
    (which locks the person to write) either committed before the claim or waits for it; then
    the claim's UPDATE takes a fresh snapshot and requires ``person_id IN (eligible_sql)``
    (the audience query, limited to the person). A committed change of mind always wins."""

    person_table: str
    person_id: int
    eligible_sql: str
    eligible_params: Sequence[Any]


def _claim_statements(
    cursor: Any, *, table: str, pk: int, now: Any, basis: str, recheck: Recheck | None, postgres: bool
) -> bool:
    if recheck is not None and postgres:
        cursor.execute(
            f"SELECT id FROM {recheck.person_table} WHERE id = %s FOR SHARE",  # noqa: S608 (model's table)
            [recheck.person_id],
        )
    sql = (
        f"UPDATE {table} SET status = 'sending', sent_at = %s, basis = %s, lease_until = NULL "  # noqa: S608 (model's table)
        "WHERE id = %s AND status = 'pending'"
    )
    params: list[Any] = [now, basis, pk]
    if recheck is not None:
        sql += f" AND person_id IN ({recheck.eligible_sql})"
        params += list(recheck.eligible_params)
    cursor.execute(sql, params)
    return bool(cursor.rowcount == 1)


def claim_record(*, table: str, pk: int, now: Any, basis: str = "", recheck: Recheck | None = None) -> Handover | None:
    """Claim the send record ``pk`` (pending -> sending, with the ``basis`` the rule allowed it
    on) in a transaction left open; with ``recheck``, only if the rule still allows the
    person at this moment (see ``Recheck``). Returns
    None if another worker has it or the rule no longer allows it (nothing changed), else the
    handover: a function that sends
    the COMMIT, runs the given function (writing the message's last line) before the COMMIT's
    answer is read, and then checks that the COMMIT succeeded."""
    from django.db import DatabaseError, connection

    postgres = connection.vendor == "postgresql"
    if not postgres or connection.in_atomic_block:
        # SQLite: one local writer, the commit is immediate. Inside a caller's transaction
        # (tests) the claim is part of that transaction and commits with it.
        with connection.cursor() as cursor:
            claimed = _claim_statements(
                cursor, table=table, pk=pk, now=now, basis=basis, recheck=recheck, postgres=postgres
            )
        return (lambda final: final()) if claimed else None
    connection.ensure_connection()
    raw = connection.connection
    try:
        with raw.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL synchronous_commit TO off")
            claimed = _claim_statements(
                cursor, table=table, pk=pk, now=now, basis=basis, recheck=recheck, postgres=postgres
            )
        if not claimed:
            raw.execute("ROLLBACK")
            return None
    except Exception:
        raw.execute("ROLLBACK")
        raise

    def handover(final: Callable[[], None]) -> None:
        pgconn = raw.pgconn
        pgconn.send_query(b"COMMIT")
        while pgconn.flush():
            select.select([], [pgconn.socket], [], 5)
        final()
        results = []
        while True:
            pgconn.consume_input()
            if pgconn.is_busy():
                select.select([pgconn.socket], [], [], 5)
                continue
            result = pgconn.get_result()
            if result is None:
                break
            results.append(result)
        if not results or results[-1].status != pq.ExecStatus.COMMAND_OK:
            raise DatabaseError("the send record's claim could not be committed")

    return handover


def send(
    connection: Any,
    envelope: tuple[str, list[str], bytes],
    claim: Callable[[], Handover | None],
    fallback: Callable[[], EmailMessage],
) -> str:
    """Send ``envelope`` (sender, recipients, the message as bytes) over a Django email
    backend (``fallback`` builds it as a Django email for a backend without SMTP), calling
    ``claim`` (which must commit and return whether this worker got the record) just before
    the message's last line. Returns
    ``claimed`` (handed over and accepted), ``taken`` (another worker has it: nothing sent) or
    ``refused`` (the server refused the sender or the recipient before the claim) or
    ``rejected`` (the server refused the message after the claim)."""
    smtp = _smtp(connection)
    if smtp is None:  # a backend without SMTP (tests, console): claim, then hand it over
        handover = claim()
        if handover is None:
            return TAKEN
        handover(lambda: None)
        connection.send_messages([fallback()])
        return CLAIMED
    sender, recipients, data = envelope
    try:
        smtp.ehlo_or_helo_if_needed()
        code, _ = smtp.mail(sender, ["SMTPUTF8"] if not data.isascii() and smtp.has_extn("smtputf8") else [])
        if code != 250:
            smtp.rset()
            return REFUSED
        if any(smtp.rcpt(r)[0] not in (250, 251) for r in recipients):
            smtp.rset()
            return REFUSED
        smtp.putcmd("data")
        code, _ = smtp.getreply()
        if code != 354:
            smtp.rset()
            return REFUSED
        body = _LEADING_DOT.sub(b"..", data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body)
    except (SMTPRecipientsRefused, SMTPSenderRefused):
        return REFUSED
    handover = claim()
    if handover is None:
        # Another worker has the record: abandon this message (a server discards a DATA
        # that never ends) and start a fresh connection for the next one.
        smtp.close()
        connection.connection = None
        connection.open()
        return TAKEN
    handover(lambda: smtp.send(b".\r\n"))  # the claim commits as the last line goes out
    code, _ = smtp.getreply()
    return CLAIMED if code == 250 else REJECTED
