"""In a real browser (issue 15 item 1): sales opens a dialogue on the person page, the person
appears on the sales-dialogue call list, and closing the dialogue takes them off it."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.people import services as people

from .conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_sales_opens_and_closes_a_dialogue_and_the_call_list_follows(
    page, live_server, make_staff, system_actor, now, csp_errors
):
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="customer_service",
        values={"name": "Dina Dialogsen", "email": "dina@example.com", "phone": "41234568"},
    )
    user = make_staff("sales")
    sign_in(page, live_server, user.username, TOTPDevice.objects.create(user=user, name="phone", confirmed=True))

    page.goto(f"{live_server.url}/call-list/?purpose=sales_dialogue")
    assert "Dina Dialogsen" not in page.content(), "not in a dialogue: not on the sales call list"

    page.goto(f"{live_server.url}/people/{person.pk}/?purpose=sales_dialogue")
    page.get_by_test_id("dialogue-open-sales").click()
    assert "The dialogue is open." in page.content()
    assert "opened by staff" in page.get_by_test_id("dialogue-sales").inner_text()
    page.goto(f"{live_server.url}/call-list/?purpose=sales_dialogue")
    assert "Dina Dialogsen" in page.content()

    page.goto(f"{live_server.url}/people/{person.pk}/?purpose=sales_dialogue")
    page.get_by_test_id("dialogue-close-sales").click()
    assert "The dialogue is closed." in page.content()
    assert page.get_by_test_id("dialogue-open-sales").count() == 1
    page.goto(f"{live_server.url}/call-list/?purpose=sales_dialogue")
    assert "Dina Dialogsen" not in page.content()
