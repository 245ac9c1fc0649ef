"""A cookie choice has a lifetime (policy §15, ``[consent_lifetime] cookie_choice_months``):
server-side, a choice older than the policy's months no longer counts; the banner is told to
ask again and says why, nothing optional is allowed and no visit is counted until the visitor
chooses again. Exactly at the end it has run out. A refusal runs out the same way."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from tillit.policy.retention import subtract_months

from .test_visits import choose, state, visit

pytestmark = pytest.mark.django_db

CHOSEN = dt.datetime(2026, 3, 10, 9, 30, tzinfo=ZoneInfo("Europe/Oslo"))
# The first moment at which the choice is 6 months old (cookie_choice_months = 6).
END = dt.datetime(2026, 9, 10, 9, 30, tzinfo=ZoneInfo("Europe/Oslo"))


def test_the_boundary_is_the_same_wall_clock_time_six_months_later():
    assert subtract_months(END, 6) == CHOSEN


@pytest.mark.parametrize("categories", [["statistics"], []])
def test_the_banner_asks_again_when_the_choice_has_run_out(categories):
    client = Client()
    with time_machine.travel(CHOSEN, tick=False):
        choose(client, categories)
    with time_machine.travel(END - dt.timedelta(seconds=1), tick=False):
        answer = state(client)
        assert (answer["ask"], answer["expired"]) == (False, False), "still valid: no asking again"
        assert answer["allowed"] == categories
        assert visit(client).json()["recorded"] is bool(categories)
    with time_machine.travel(END, tick=False):
        answer = state(client)
        assert answer["ask"] is True
        assert answer["expired"] is True
        assert answer["changed"] is False, "the notice did not change; the choice ran out"
        assert answer["choice"]["current"] is False
        assert answer["allowed"] == []
        assert answer["texts"]["expired"]
        assert visit(client).json() == {"recorded": False}
        choose(client, ["statistics"])
        answer = state(client)
        assert (answer["ask"], answer["expired"], answer["allowed"]) == (False, False, ["statistics"])
        assert visit(client).json()["recorded"] is True
