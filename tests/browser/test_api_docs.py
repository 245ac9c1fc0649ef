"""The interactive API documentation renders in a real browser under the strict CSP: from the
bundled static files, no CDN and no inline script."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_api_docs_render_without_a_cdn(page, live_server, csp_errors):
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if live_server.url not in request.url else None)
    page.goto(f"{live_server.url}/api/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "tillit" in page.locator(".swagger-ui .info .title").inner_text().lower()
    assert outside == [], "nothing is fetched from anywhere else"
