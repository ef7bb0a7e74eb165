"""What a sender address of each kind looks like, and the default MPS per kind. Pure: no I/O."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

KINDS = ("long_code", "toll_free", "short_code", "messaging_service", "alphanumeric")

#: Provider limits that bound real campaigns (PERF_NOTES.md): long code 1, toll-free 3, short code 100.
#: A messaging service sends at the sum of its pool. An alphanumeric ID gets the conservative 1.
DEFAULT_MPS = {"long_code": 1, "toll_free": 3, "short_code": 100, "alphanumeric": 1}

_SHORT_CODE = re.compile(r"^\d{5,6}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


class BadAddress(ValueError):
    """The address cannot be a company sender of that kind; the message says why."""


def normalize(kind: str, raw: str, *, region: str = "US") -> str:
    raw = raw.strip()
    if kind in ("long_code", "toll_free"):
        return _phone(kind, raw, region)
    if kind == "short_code":
        if not _SHORT_CODE.match(raw):
            raise BadAddress(f"'{raw}' is not a short code: a short code is 5 or 6 digits")
        return raw
    if kind == "messaging_service":
        if not _SERVICE_SID.match(raw):
            raise BadAddress(f"'{raw}' is not a messaging service SID: it looks like MG followed by 32 hex digits")
        return "MG" + raw[2:].lower()
    if kind == "alphanumeric":
        if not _ALPHANUMERIC.match(raw):
            raise BadAddress(
                f"'{raw}' is not a valid alphanumeric sender ID: 1 to 11 letters, digits or spaces, with at least one letter"
            )
        return raw
    raise BadAddress(f"unknown sender kind '{kind}'; expected one of {', '.join(KINDS)}")


def _phone(kind: str, raw: str, region: str) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise BadAddress(f"'{raw}' is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise BadAddress(f"'{raw}' is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    is_toll_free = phonenumbers.number_type(number) == PhoneNumberType.TOLL_FREE
    if kind == "toll_free" and not is_toll_free:
        raise BadAddress(f"{e164} is not a toll-free number; register it as a long_code")
    if kind == "long_code" and is_toll_free:
        raise BadAddress(f"{e164} is a toll-free number; register it as toll_free")
    return e164


def pool_mps(pool: list[str]) -> int:
    """A messaging service's MPS: the sum of its numbers' limits (at least 1)."""
    total = 0
    for address in pool:
        if _SHORT_CODE.match(address):
            total += DEFAULT_MPS["short_code"]
        elif _is_toll_free(address):
            total += DEFAULT_MPS["toll_free"]
        else:
            total += DEFAULT_MPS["long_code"]
    return max(total, 1)


def _is_toll_free(address: str) -> bool:
    try:
        return phonenumbers.number_type(phonenumbers.parse(address, None)) == PhoneNumberType.TOLL_FREE
    except phonenumbers.NumberParseException:
        return False
