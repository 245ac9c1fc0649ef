"""The Global Privacy Control signal is read exactly as the specification says."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from tillit.web.middleware import GlobalPrivacyControlMiddleware


@pytest.mark.parametrize(
    ("header", "gpc"),
    [
        (None, False),
        ("1", True),
        ("0", False),
        ("yes", False),
        ("true", False),
        ("0, 1", True),
        (" 1 ", True),
        ("11", False),
    ],
)
def test_sec_gpc_counts_only_when_exactly_1(header, gpc):
    seen = {}

    def view(request):
        seen["gpc"] = request.gpc
        return HttpResponse()

    headers = {} if header is None else {"HTTP_SEC_GPC": header}
    GlobalPrivacyControlMiddleware(view)(RequestFactory().get("/", **headers))
    assert seen["gpc"] is gpc
