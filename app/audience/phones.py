"""Phone numbers: what we accept, and where (in time and law) the person behind one probably is.

Rules:

* **Storage form.** Every number is stored in E.164 ("+14155552671"). `normalize` parses what
  people type (national or international, any punctuation) with the `phonenumbers` library,
  reading national numbers as numbers of ``default_region``.
* **Only numbers that can receive a text.** A number must be possible (right length) and valid
  (an allocated range) for its region, and of a kind that can receive SMS. Allowed: MOBILE,
  FIXED_LINE_OR_MOBILE (every US and Canadian number is this — the ranges are not split),
  VOIP and PERSONAL_NUMBER. Refused: FIXED_LINE, TOLL_FREE, PREMIUM_RATE, SHARED_COST, UAN,
  VOICEMAIL, PAGER, anything unclassifiable, and numbers with an extension. Each refusal raises `InvalidPhone` with a reason
  a marketer can act on.
* **Time zones.** `candidate_time_zones` lists every IANA zone the number may be in (from the
  numbering plan; a US area code can span two zones). Quiet hours must hold in *all* of them.
  When the plan knows no zone for the number, we fall back to every zone of the default
  region's country calling code (for "US": the whole North American Numbering Plan), which is
  the cautious choice: the send waits until it is daytime everywhere the person could be.
* **State.** `us_state_for` reads the US state (or DC / territory) from the area code, because
  some states allow marketing texts in a narrower window than federal law (see
  `app.audience.quiet_hours.STATE_WINDOWS`). The area-code table below is taken from the
  numbering-plan geography of `phonenumbers` 9.0 and checked by hand for FL, CT, MD, OK and WA.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType, timezone
from phonenumbers.tzdata import TIMEZONE_DATA

SMS_CAPABLE = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
        PhoneNumberType.PERSONAL_NUMBER,
    }
)

_REFUSED_KIND = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.UNKNOWN: "a number of unknown kind",
}


class InvalidPhone(ValueError):
    """A phone number we will not store or text; ``reason`` says why in plain words."""

    def __init__(self, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def _parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber:
    if raw is None or not str(raw).strip():
        raise InvalidPhone("no phone number given", raw)
    try:
        return phonenumbers.parse(str(raw).strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number ({getattr(exc, '_msg', exc)})", raw) from exc


def normalize(raw: str, default_region: str = "US") -> str:
    """Return ``raw`` in E.164, or raise `InvalidPhone` saying why it cannot receive our texts."""
    number = _parse(raw, default_region)
    region = phonenumbers.region_code_for_number(number) or default_region
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"{raw!r} has the wrong number of digits for a {region} number", raw)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{raw!r} is not a valid {region} phone number", raw)
    if number.extension:
        raise InvalidPhone(f"{raw!r} has an extension; texts cannot reach a number behind a switchboard", raw)
    kind = phonenumbers.number_type(number)
    if kind not in SMS_CAPABLE:
        described = _REFUSED_KIND.get(kind, f"a {kind} number")
        raise InvalidPhone(f"{raw!r} is {described}, which cannot receive text messages", raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    """The country (phonenumbers region, e.g. "US", "CA", "PR") of a number in E.164, or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def _known_zones(names) -> list[str]:
    zones = []
    for name in names:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        zones.append(name)
    return sorted(set(zones))


def region_time_zones(region: str) -> list[str]:
    """Every zone of ``region``'s country calling code ("US" -> all of the NANP)."""
    code = phonenumbers.country_code_for_region(region)
    return _known_zones(TIMEZONE_DATA.get(str(code), ()))


def candidate_time_zones(e164: str, default_region: str = "US") -> list[str]:
    """All IANA zones the holder of ``e164`` may be in, sorted by name; never empty.

    Falls back to `region_time_zones` of the number's own region (else ``default_region``) when
    the numbering plan does not place the number, and to ``["UTC"]`` only if that is empty too.
    """
    number = _parse(e164, default_region)
    zones = _known_zones(z for z in timezone.time_zones_for_number(number) if z != timezone.UNKNOWN_TIMEZONE)
    if zones:
        return zones
    region = phonenumbers.region_code_for_number(number) or default_region
    return region_time_zones(region) or region_time_zones(default_region) or ["UTC"]


# A fixed winter instant, so the choice below does not change with the season or the clock.
_REFERENCE = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def time_zone_for(e164: str, default_region: str = "US") -> str:
    """One representative zone for the number: the only candidate, or else the easternmost.

    "Easternmost" is the candidate with the largest UTC offset on a fixed winter date (ties by
    name): its clock reads latest, so its evening quiet hours begin first. Use it for display
    and scheduling hints only; quiet hours must be checked in every `candidate_time_zones`.
    """
    zones = candidate_time_zones(e164, default_region)
    return max(zones, key=lambda z: (_REFERENCE.astimezone(ZoneInfo(z)).utcoffset(), z))


# US area code -> state (USPS code), compact: state -> space-separated area codes.
_STATE_AREA_CODES = {
    "AK": "907",
    "AL": "205 251 256 334 659 938",
    "AR": "327 479 501 870",
    "AZ": "480 520 602 623 928",
    "CA": "209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 "
    "669 707 714 738 747 760 805 818 820 831 840 858 909 916 925 949 951",
    "CO": "303 719 720 748 970 983",
    "CT": "203 475 860 959",
    "DC": "202 771",
    "DE": "302",
    "FL": "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954",
    "GA": "229 404 470 478 678 706 762 770 912 943",
    "HI": "808",
    "IA": "319 515 563 641 712",
    "ID": "208 986",
    "IL": "217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872",
    "IN": "219 260 317 463 574 765 812 930",
    "KS": "316 620 785 913",
    "KY": "270 364 502 606 859",
    "LA": "225 318 337 504 985",
    "MA": "339 351 413 508 617 774 781 857 978",
    "MD": "227 240 301 410 443 667",
    "ME": "207",
    "MI": "231 248 269 313 517 586 616 734 810 906 947 989",
    "MN": "218 320 507 612 651 763 952",
    "MO": "235 314 417 557 573 636 660 816 975",
    "MS": "228 601 662 769",
    "MT": "406",
    "NC": "252 336 472 704 743 828 910 919 980 984",
    "ND": "701",
    "NE": "308 402 531",
    "NH": "603",
    "NJ": "201 551 609 640 732 848 856 862 908 973",
    "NM": "505 575",
    "NV": "702 725 775",
    "NY": "212 315 329 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934",
    "OH": "216 220 234 283 326 330 380 419 440 513 567 614 740 937",
    "OK": "405 539 572 580 918",
    "OR": "458 503 541 971",
    "PA": "215 223 267 272 412 445 484 570 582 610 717 724 814 835 878",
    "RI": "401",
    "SC": "803 821 839 843 854 864",
    "SD": "605",
    "TN": "423 615 629 731 865 901 931",
    "TX": "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 915 "
    "936 940 945 956 972 979",
    "UT": "385 435 801",
    "VA": "276 434 540 571 686 703 757 804 826 948",
    "VT": "802",
    "WA": "206 253 360 425 509 564",
    "WI": "262 274 353 414 534 608 715 920",
    "WV": "304 681",
    "WY": "307",
    # Territories in the NANP (their own phonenumbers regions, but US law applies).
    "AS": "684",
    "GU": "671",
    "MP": "670",
    "PR": "787 939",
    "VI": "340",
}

AREA_CODE_STATE: dict[str, str] = {
    code: state for state, codes in _STATE_AREA_CODES.items() for code in codes.split()
}


def us_state_for(e164: str) -> str | None:
    """The US state, DC or territory (USPS code) of a +1 number's area code, else None.

    None for non-NANP numbers, Canada and the Caribbean, non-geographic codes (800, 500, ...)
    and area codes newer than the table. An area code is where the number was issued, not
    where the person lives now; the caller treats it as the best available evidence.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 1:
        return None
    national = str(number.national_number)
    if len(national) != 10:
        return None
    return AREA_CODE_STATE.get(national[:3])
