"""Fixtures for the audit tests: a log written by the ordinary services, and raw tampering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.people import selectors, services
from tillit.people.models import Person

TABLE = AuditEntry._meta.db_table


def raw_sql(statement: str, params: list[Any] | None = None) -> None:
    """Run SQL against the audit table behind the application's back (``{table}`` is filled in)."""
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=TABLE), params or [])


def swap_sequences(a: int, b: int) -> None:
    """Swap two entries' places in the chain (three statements: ``sequence`` is unique)."""
    raw_sql("UPDATE {table} SET sequence = -1 WHERE sequence = %s", [a])
    raw_sql("UPDATE {table} SET sequence = %s WHERE sequence = %s", [a, b])
    raw_sql("UPDATE {table} SET sequence = %s WHERE sequence = -1", [b])


@pytest.fixture
def people_log(system_actor: Actor, staff_actor: Callable[[str], Actor], now) -> list[Person]:  # type: ignore[no-untyped-def]
    """Two people created, read, searched and corrected through the ordinary services, which
    write the audit log: at least a dozen entries."""
    seller = staff_actor("sales")
    created = [
        services.create_person(
            actor=system_actor, now=now, source="form", values={"name": name, "email": email, "phone": phone}
        )
        for name, email, phone in (
            ("Ingrid Testesen", "ingrid.testesen@example.com", "+4741234567"),
            ("Ola Prøvesen", "ola.provesen@example.com", "+4741234568"),
        )
    ]
    for person in created:
        selectors.get_person(actor=seller, now=now, person_id=person.pk, purpose="sales_dialogue")
        selectors.person_timeline(actor=seller, now=now, person_id=person.pk, purpose="sales_dialogue")
    selectors.search_people(actor=seller, now=now, purpose="sales_dialogue", query="Testesen")
    selectors.search_people(actor=seller, now=now, purpose="sales_dialogue")
    services.update_person(
        actor=seller,
        now=now,
        person_id=created[0].pk,
        source="customer_service",
        changes={"position": "CFO"},
        purpose="sales_dialogue",
    )
    assert AuditEntry.objects.count() >= 10
    return created
