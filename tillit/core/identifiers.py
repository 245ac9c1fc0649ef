"""Normalisers for the identifiers people give us: email, phone, organisation number.

Each returns the canonical form or raises ``ValidationError`` naming the field and the reason
(never echoing the value, which may be personal data). They are pure and deterministic.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import phonenumbers
import stdnum
from email_validator import EmailNotValidError, validate_email
from stdnum import exceptions as stdnum_errors
from stdnum.no import orgnr as no_orgnr

from tillit.core.errors import ValidationError

MAX_EMAIL_LENGTH = 254


def normalise_email(value: str, *, field: str = "email") -> str:
    """The canonical form of a work email: syntax checked, IDNA domain, all lower case.

    Lower-casing the local part is a deliberate choice: in practice no business mail system
    treats ``Ola.Nordmann@`` and ``ola.nordmann@`` as two people, and deduplication (one person
    per address) depends on it.
    """
    text = (value or "").strip()
    if not text:
        raise ValidationError("an email address is required", field=field)
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"an email address is at most {MAX_EMAIL_LENGTH} characters", field=field)
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        raise ValidationError(f"not a valid email address: {_reason(error)}", field=field) from None
    return str(result.normalized).lower()


def _reason(error: EmailNotValidError) -> str:
    # email-validator's messages describe the syntax problem without repeating the address.
    return str(error).rstrip(".")


def normalise_phone(value: str, *, field: str = "phone", region: str = "NO") -> str:
    """A phone number in E.164 (``+4722334455``). Numbers without a country code are read as
    Norwegian unless ``region`` says otherwise."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("a phone number is required", field=field)
    if len(text) > 32:
        raise ValidationError("a phone number is at most 32 characters", field=field)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("not a valid phone number for its country", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_orgnr(value: str, *, field: str = "org_number") -> str:
    """A Norwegian organisation number as nine digits, check digit verified (mod 11)."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("an organisation number is required", field=field)
    try:
        return str(no_orgnr.validate(text))
    except stdnum_errors.InvalidChecksum:
        raise ValidationError("the check digit of the organisation number is wrong", field=field) from None
    except stdnum_errors.InvalidLength:
        raise ValidationError("an organisation number has nine digits", field=field) from None
    except stdnum_errors.ValidationError:
        raise ValidationError("not a valid organisation number", field=field) from None


def email_domain(email: str) -> str:
    """The domain part of a normalised email."""
    return email.rpartition("@")[2]


def identifier_digest(kind: str, normalised: str, *, key: str) -> str:
    """A keyed hash (HMAC-SHA256) of a normalised identifier, e.g. ``("email", "a@b.no")``.
    Recognises the identifier again; cannot be turned back into it without the key."""
    return hmac.new(key.encode(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def identifier_digests(*, email: str | None, phone: str | None, key: str) -> list[tuple[str, str]]:
    """(kind, keyed hash) of a person's normalised email and phone, the ones they have: what the
    suppression list and erasure receipts hold instead of the identifiers themselves."""
    return [
        (kind, identifier_digest(kind, value, key=key)) for kind, value in (("email", email), ("phone", phone)) if value
    ]


def truncate_ip(value: str | None) -> str:
    """An IP address with its host part removed (IPv4 /24, IPv6 /48), as stored for evidence
    and statistics; "" for anything that is not an IP address."""
    if not value:
        return ""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def format_organisation_number(number: str, country: str) -> str:
    """The organisation number as it is usually written for people to read (§1): 923130969 -> "923 130 969"."""
    try:
        module = stdnum.get_cc_module(country.lower(), "orgnr")
    except (ImportError, ValueError):
        module = None
    formatter = getattr(module, "format", None)
    if formatter is None:
        return number
    try:
        return str(formatter(number))
    except Exception:  # a number stdnum cannot format is shown as written in the policy
        return number


def format_phone(number: str) -> str:
    """The phone number in international format for people to read (§1): +4770310086 -> "+47 70 31 00 86"."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
