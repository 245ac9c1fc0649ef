"""Staff pages for forms and material: define a form, see the embed snippet and the number of
submissions, add material; bad input is a form error and nothing is saved."""

from __future__ import annotations

import pytest

from tillit.audit.models import AuditEntry
from tillit.capture import services
from tillit.capture.models import Form, Material

pytestmark = pytest.mark.django_db


def test_marketing_defines_a_form_and_sees_its_snippet_and_submissions(staff_client, now):
    client = staff_client("marketing")
    response = client.post(
        "/capture/forms/new/",
        {
            "name": "Nyhetsbrev",
            "language": "sv",
            "ask": ["phone", "product_interests"],
            "required_fields": ["phone"],
            "products": "Båtar\nMotorer\n",
            "consents": ["newsletter/email"],
            "wording_newsletter_email": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    form = Form.objects.get()
    assert (form.name, form.language) == ("Nyhetsbrev", "sv")
    assert [f["name"] for f in form.fields] == ["name", "email", "phone", "product_interests"]
    assert next(f for f in form.fields if f["name"] == "product_interests")["options"] == ["Båtar", "Motorer"]
    assert "Nyhetsbrev och annat innehåll du valt att få" in form.consents[0]["wording"]
    assert AuditEntry.objects.filter(subject_type="form", subject_id=form.pk, action="create").exists()

    services.submit_form(
        actor=services_actor(),
        now=now,
        public_id=form.public_id,
        data={"name": "Testa", "email": "testa@example.com", "phone": "41234567"},
    )
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'data-testid="submission-count">1<' in page.content
    assert f"data-tillit-form=&quot;{form.public_id}&quot;".encode() in page.content, "the embed snippet"
    listing = client.get("/capture/forms/")
    assert b"Nyhetsbrev" in listing.content
    assert b'data-testid="count">1<' in listing.content


def services_actor():
    from tillit.core.actors import Actor

    return Actor(kind="data_subject", role=None, user_id=None, label="data_subject:form")


def test_editing_a_form_keeps_its_public_id_and_can_retire_it(staff_client, system_actor, now, make_form):
    form = make_form()
    client = staff_client("sales")
    response = client.post(
        f"/capture/forms/{form.pk}/",
        {"name": "Renamed", "language": "en", "ask": ["message"], "consents": [], "products": ""},
    )
    assert response.status_code == 302
    form.refresh_from_db()
    assert form.name == "Renamed"
    assert not form.is_active
    assert form.consents == []
    assert client.get(f"/forms/{form.public_id}/").status_code == 404, "a retired form is not shown"


def test_a_bad_definition_is_a_form_error_and_saves_nothing(staff_client):
    client = staff_client("marketing")
    response = client.post(
        "/capture/forms/new/", {"name": "", "language": "en", "ask": ["product_interests"], "products": ""}
    )
    assert response.status_code == 422
    response = client.post(
        "/capture/forms/new/", {"name": "Interests", "language": "en", "ask": ["product_interests"], "products": ""}
    )
    assert response.status_code == 422
    assert b"product interests need" in response.content
    assert not Form.objects.exists()


def test_material_is_added_with_a_tracked_link(staff_client):
    client = staff_client("marketing")
    response = client.post(
        "/capture/materials/new/", {"slug": "brochure", "title": "Brochure", "url": "https://www.example.com/b.pdf"}
    )
    assert response.status_code == 302
    assert Material.objects.get().slug == "brochure"
    assert b"/d/brochure/" in client.get("/capture/forms/").content
    again = client.post("/capture/materials/new/", {"slug": "brochure", "title": "B", "url": "javascript:alert(1)"})
    assert again.status_code == 422
    assert Material.objects.count() == 1
