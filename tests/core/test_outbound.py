"""The server-side request forgery guard on partner endpoints (tillit.core.outbound)."""

from __future__ import annotations

import pytest

from tillit.core.errors import ValidationError
from tillit.core.outbound import check_outbound_url, is_public_address


def fake_dns(table: dict[str, list[str]]):
    return lambda host, port: table.get(host, [])


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example/hook",  # not https
        "ftp://partner.example/hook",
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://[::1]/hook",
        "https://10.0.0.8/hook",
        "https://172.16.4.4/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://[fd00::1]/hook",  # unique local
        "https://[fe80::1]/hook",  # link-local
        "https://[::ffff:127.0.0.1]/hook",  # loopback dressed as IPv6
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://user:secret@partner.example/hook",
        "https:///hook",
        "https://internal.partner.example/hook",  # resolves to a private address
        "https://mixed.partner.example/hook",  # one public, one private address
        "https://nowhere.partner.example/hook",  # does not resolve
    ],
)
def test_internal_or_insecure_addresses_are_refused(url):
    dns = fake_dns(
        {
            "partner.example": ["93.184.215.14"],
            "internal.partner.example": ["10.1.2.3"],
            "mixed.partner.example": ["93.184.215.14", "192.168.0.5"],
        }
    )
    with pytest.raises(ValidationError) as error:
        check_outbound_url(url, resolve=dns)
    assert error.value.field == "endpoint"


def test_a_public_https_address_is_approved_with_the_addresses_to_connect_to():
    approved = check_outbound_url(
        "https://hooks.partner.example:8443/tillit", resolve=fake_dns({"hooks.partner.example": ["93.184.215.14"]})
    )
    assert approved.host == "hooks.partner.example"
    assert approved.port == 8443
    assert approved.addresses == ("93.184.215.14",)


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False), ("::1", False), ("nonsense", False)],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public
