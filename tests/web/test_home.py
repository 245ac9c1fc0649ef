"""The front page is served and shows what the policy says."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_home_page_names_the_controller_and_links_the_api():
    response = Client().get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Avara AS" in text
    assert "/api/docs" in text
