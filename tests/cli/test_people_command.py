"""The command line reads through the same read gate as the UI and the API."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tillit.people import services as people

pytestmark = pytest.mark.django_db


@pytest.fixture
def kari(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Cli", "email": "kari.cli@example.com", "phone": "41234567"},
    )


def test_show_applies_the_role(kari, make_staff):
    make_staff("sales")
    out = StringIO()
    call_command("people", "show", str(kari.pk), "--as", "sales-user", stdout=out)
    assert json.loads(out.getvalue())["email"] == "kari.cli@example.com"
    make_staff("marketing")
    out = StringIO()
    call_command("people", "show", str(kari.pk), "--as", "marketing-user", "--purpose", "statistics", stdout=out)
    assert "email" not in json.loads(out.getvalue())


def test_a_role_without_the_purpose_gets_one_line(kari, make_staff):
    make_staff("administrator")
    with pytest.raises(CommandError, match="may not read personal data"):
        call_command("people", "show", str(kari.pk), "--as", "administrator-user", stdout=StringIO())


def test_search(kari, make_staff):
    make_staff("customer_support")
    out = StringIO()
    call_command("people", "search", "kari.cli", "--as", "customer_support-user", stdout=out)
    assert f"#{kari.pk}" in out.getvalue()


def test_search_reads_the_term_from_standard_input(kari, make_staff, monkeypatch):
    """A term on the command line stays in the shell's history after the person is erased."""
    make_staff("customer_support")
    monkeypatch.setattr("sys.stdin", StringIO("kari.cli\n"))
    out = StringIO()
    call_command("people", "search", "--as", "customer_support-user", stdout=out)
    assert f"#{kari.pk}" in out.getvalue()
