"""Writing to the audit log. Called inside the transaction of the action it records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor


def record(
    *,
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_id: int | None,
    purpose: str = "",
    fields: Iterable[str] = (),
) -> AuditEntry:
    """Append one entry. ``fields`` are field names, never values."""
    return AuditEntry.objects.create(**_row(actor, now, action, subject_type, subject_id, purpose, fields))


def record_many(
    *,
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_ids: Iterable[int],
    purpose: str = "",
    fields: Iterable[str] = (),
) -> None:
    """Append one entry per subject (a search result page, an export) in one statement."""
    names = sorted(fields)
    AuditEntry.objects.bulk_create(
        [AuditEntry(**_row(actor, now, action, subject_type, sid, purpose, names)) for sid in subject_ids]
    )


def _row(
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_id: int | None,
    purpose: str,
    fields: Iterable[str],
) -> dict[str, object]:
    return {
        "at": now,
        "actor_kind": actor.kind,
        "actor_label": actor.label,
        "actor_user_id": actor.user_id,
        "actor_role": actor.role or "",
        "action": action,
        "purpose": purpose,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "fields": sorted(fields),
    }
