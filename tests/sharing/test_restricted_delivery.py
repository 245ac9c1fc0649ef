"""A disclosure waiting to be delivered to a partner's endpoint leaves out a person whose
processing was restricted (GDPR art. 18) since it was recorded: the delivery re-checks the
rule at the moment it goes."""

from __future__ import annotations

import pytest

from tillit.people import restrictions
from tillit.sharing import services

from .conftest import NOW

pytestmark = pytest.mark.django_db
BASIC = ["name", "email", "phone", "organisation"]


def test_a_person_restricted_before_the_delivery_does_not_go(
    sales, dialogue, partner, crowd, endpoint, connect, system_actor
):
    connect(partner, endpoint)
    result = services.disclose(actor=sales, now=NOW, dialogue_id=dialogue.pk, categories=BASIC, channel="endpoint")
    restrictions.restrict_processing(actor=system_actor, now=NOW, person_id=crowd[0].pk, grounds="accuracy_contested")

    services.deliver_disclosure(now=NOW, delivery_id=result.disclosure.delivery.pk)

    sent = {p["reference"] for p in endpoint.documents()[0]["people"]}
    assert str(crowd[0].pseudonym) not in sent
    assert str(crowd[1].pseudonym) in sent
