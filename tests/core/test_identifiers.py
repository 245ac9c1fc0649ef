"""Normalisers for email, phone and organisation number: table tests and properties."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.no import orgnr

from tillit.core.errors import ValidationError
from tillit.core.identifiers import normalise_email, normalise_orgnr, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ola.nordmann@example.com", "ola.nordmann@example.com"),
        ("  Ola.Nordmann@Example.COM ", "ola.nordmann@example.com"),
        ("kari@xn--bcher-kva.example", "kari@bücher.example"),
        ("post@sub.example.no", "post@sub.example.no"),
    ],
)
def test_email_is_normalised(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "no-at-sign", "a@", "@example.com", "a@@example.com", "a b@example.com", "x" * 250 + "@example.com"],
)
def test_bad_email_names_the_field(raw):
    with pytest.raises(ValidationError) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"
    assert raw.strip() == "" or raw not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("22 33 44 55", "+4722334455"),
        ("+47 412 34 567", "+4741234567"),
        ("0047 41234567", "+4741234567"),
        ("+46 70 123 45 67", "+46701234567"),
    ],
)
def test_phone_is_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "phone me", "+47 1234", "+999 12345678"])
def test_bad_phone_names_the_field(raw):
    with pytest.raises(ValidationError) as caught:
        normalise_phone(raw)
    assert caught.value.field == "phone"


@pytest.mark.parametrize(("raw", "expected"), [("923 130 969", "923130969"), ("923130969", "923130969")])
def test_orgnr_is_compacted(raw, expected):
    assert normalise_orgnr(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("923130968", "check digit"), ("92313096", "nine digits"), ("abc", "not a valid"), ("", "required")],
)
def test_bad_orgnr_says_why(raw, reason):
    with pytest.raises(ValidationError, match=reason) as caught:
        normalise_orgnr(raw)
    assert caught.value.field == "org_number"


@given(st.text(max_size=300))
def test_email_normaliser_never_crashes_and_is_idempotent(raw):
    try:
        once = normalise_email(raw)
    except ValidationError:
        return
    assert normalise_email(once) == once
    assert once == once.lower()


@given(st.text(alphabet="0123456789 +-()", max_size=30))
def test_phone_normaliser_gives_valid_e164_or_an_error(raw):
    try:
        value = normalise_phone(raw)
    except ValidationError:
        return
    assert value.startswith("+")
    assert phonenumbers.is_valid_number(phonenumbers.parse(value))
    assert normalise_phone(value) == value


@given(st.text(alphabet="0123456789 ", max_size=14))
def test_orgnr_normaliser_accepts_exactly_the_valid_numbers(raw):
    try:
        value = normalise_orgnr(raw)
    except ValidationError:
        assert not orgnr.is_valid(raw)
        return
    assert orgnr.is_valid(value)
    assert len(value) == 9
