"""Chat transcripts from the website's chat (policy §4 "our chat"), delivered by a webhook.

The chat service signs each delivery: ``X-Tillit-Timestamp`` is the time of sending in Unix
seconds, ``X-Tillit-Signature`` is ``sha256=`` and the hex HMAC-SHA256, keyed with the shared
secret (``TILLIT_CHAT_WEBHOOK_SECRET``), of ``<timestamp>.`` followed by the raw body. A
delivery older or newer than ``MAX_SKEW`` or seen before is refused (replay), as is any other
signature; nothing is stored then.

The body is JSON: ``{"email", "name"?, "started_at"?, "messages": [{"from": "visitor" |
"agent", "text"}]}``. The person is matched by the normalised email or registered (the name is
needed then); the transcript becomes a chat interaction (inbound: it moves the retention
clock, §9) and passes the sensitive data guard (§16).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction

from tillit.core.actors import Actor
from tillit.core.errors import DomainError, ValidationError
from tillit.people import services as people

MAX_SKEW = dt.timedelta(minutes=5)
MAX_MESSAGES = 500
MAX_TRANSCRIPT = 20_000
SPEAKERS = ("visitor", "agent")


class SignatureError(DomainError):
    """A webhook delivery that is not signed with our secret, or is stale or replayed."""

    code = "bad_signature"
    status = 401


class NotConfiguredError(DomainError):
    code = "not_configured"
    status = 503


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a delivery (what the chat service computes)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(*, secret: str, timestamp: str, signature: str, body: bytes, now: dt.datetime) -> None:
    """Raise SignatureError unless the delivery is signed with ``secret``, fresh, and new."""
    if not secret:
        raise NotConfiguredError("the chat webhook is not configured (TILLIT_CHAT_WEBHOOK_SECRET)")
    if not timestamp or not signature:
        raise SignatureError("the X-Tillit-Timestamp and X-Tillit-Signature headers are required")
    try:
        sent = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("X-Tillit-Timestamp must be Unix seconds") from None
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise SignatureError("the signature does not match the body")
    if abs(now - sent) > MAX_SKEW:
        raise SignatureError("the delivery is too old or from the future (replay refused)")
    # One use: the same signed delivery twice is a replay (kept as long as it could be fresh).
    if not cache.add(f"tillit:chat:{signature.strip()[-64:]}", 1, timeout=int(MAX_SKEW.total_seconds()) * 2 + 60):
        raise SignatureError("this delivery was already received (replay refused)")


@dataclass(frozen=True)
class ChatResult:
    person_id: int
    created: bool
    interaction_id: int
    quarantined: bool


def parse_transcript(body: bytes) -> dict[str, Any]:
    """The delivery's JSON, checked; ValidationError naming the first wrong field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("the body is not valid JSON", field=None) from None
    if not isinstance(data, dict):
        raise ValidationError("the body is a JSON object", field=None)
    unknown = sorted(set(data) - {"email", "name", "started_at", "messages", "chat_id"})
    if unknown:
        raise ValidationError("unknown field", field=unknown[0])
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError("a transcript has at least one message", field="messages")
    if len(messages) > MAX_MESSAGES:
        raise ValidationError(f"a transcript has at most {MAX_MESSAGES} messages", field="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("from") not in SPEAKERS:
            raise ValidationError(f"each message has from ({' or '.join(SPEAKERS)})", field=f"messages.{i}.from")
        if not isinstance(message.get("text"), str) or not message["text"].strip():
            raise ValidationError("each message has text", field=f"messages.{i}.text")
    started = data.get("started_at")
    if started is not None:
        try:
            moment = dt.datetime.fromisoformat(str(started))
        except ValueError:
            raise ValidationError("an ISO 8601 date and time", field="started_at") from None
        data["started_at"] = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return data


def _transcript_text(messages: list[dict[str, Any]]) -> str:
    text = "\n".join(f"{m['from']}: {m['text'].strip()}" for m in messages)
    if len(text) > MAX_TRANSCRIPT:
        raise ValidationError(f"the transcript is at most {MAX_TRANSCRIPT} characters", field="messages")
    return text


@transaction.atomic
def record_chat(*, actor: Actor, now: dt.datetime, body: bytes) -> ChatResult:
    """Store one verified chat transcript (see the module docstring), in one transaction."""
    data = parse_transcript(body)
    text = _transcript_text(data["messages"])
    values = {"email": data.get("email") or ""}
    if data.get("name"):
        values["name"] = data["name"]
    upsert = people.upsert_person(actor=actor, now=now, source="chat", values=values, detail="chat")
    started = data.get("started_at")
    recorded = people.guard_and_record_interaction(
        actor=actor,
        now=now,
        person_id=upsert.person.pk,
        kind="chat",
        direction="inbound",
        occurred_at=min(started, now) if started else now,
        subject="Chat",
        summary=text,
    )
    return ChatResult(upsert.person.pk, upsert.created, recorded.interaction.pk, recorded.quarantined)
