"""What a sender address of each kind looks like, and the default MPS per kind. Pure: no I/O."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

from app.vocab.sender import SenderKind as K

#: Provider limits that bound real campaigns (docs/performance.md): long code 1, toll-free 3, short code 100.
#: A messaging service sends at the sum of its pool. An alphanumeric ID gets the conservative 1.
DEFAULT_MPS = {K.LONG_CODE: 1, K.TOLL_FREE: 3, K.SHORT_CODE: 100, K.ALPHANUMERIC: 1}

_SHORT_CODE = re.compile(r"^\d{5,6}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


class BadAddress(ValueError):
    """The address cannot be a company sender of that kind; the message says why."""


def normalize(kind: str, raw: str, *, region: str = "US") -> str:
    raw = raw.strip()
    if kind in (K.LONG_CODE, K.TOLL_FREE):
        return _phone(kind, raw, region)
    if kind == K.SHORT_CODE:
        if not _SHORT_CODE.match(raw):
            raise BadAddress(f"'{raw}' is not a short code: a short code is 5 or 6 digits")
        return raw
    if kind == K.MESSAGING_SERVICE:
        if not _SERVICE_SID.match(raw):
            raise BadAddress(f"'{raw}' is not a messaging service SID: it looks like MG followed by 32 hex digits")
        return "MG" + raw[2:].lower()
    if kind == K.ALPHANUMERIC:
        if not _ALPHANUMERIC.match(raw):
            raise BadAddress(
                f"'{raw}' is not a valid alphanumeric sender ID: 1 to 11 letters, digits or spaces, with at least one letter"
            )
        return raw
    raise BadAddress(f"unknown sender kind '{kind}'; expected one of {', '.join(K)}")


def _phone(kind: str, raw: str, region: str) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise BadAddress(f"'{raw}' is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise BadAddress(f"'{raw}' is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    is_toll_free = phonenumbers.number_type(number) == PhoneNumberType.TOLL_FREE
    if kind == K.TOLL_FREE and not is_toll_free:
        raise BadAddress(f"{e164} is not a toll-free number; register it as a long_code")
    if kind == K.LONG_CODE and is_toll_free:
        raise BadAddress(f"{e164} is a toll-free number; register it as toll_free")
    return e164


def pool_mps(pool: list[str]) -> int:
    """A messaging service's MPS: the sum of its numbers' limits (at least 1)."""
    total = 0
    for address in pool:
        if _SHORT_CODE.match(address):
            total += DEFAULT_MPS[K.SHORT_CODE]
        elif _is_toll_free(address):
            total += DEFAULT_MPS[K.TOLL_FREE]
        else:
            total += DEFAULT_MPS[K.LONG_CODE]
    return max(total, 1)


def _is_toll_free(address: str) -> bool:
    try:
        return phonenumbers.number_type(phonenumbers.parse(address, None)) == PhoneNumberType.TOLL_FREE
    except phonenumbers.NumberParseException:
        return False
