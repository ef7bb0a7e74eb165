"""Table-driven tests for phone normalisation, time zones and US states."""

import phonenumbers
import pytest

from app.audience.phones import (
    AREA_CODE_STATE,
    InvalidPhone,
    candidate_time_zones,
    normalize,
    region_time_zones,
    time_zone_for,
    us_state_for,
)

ACCEPTED = [
    ("(415) 555-2671", "US", "+14155552671"),  # FIXED_LINE_OR_MOBILE, like every US number
    ("415.555.2671 ", "US", "+14155552671"),
    ("4155552671", "US", "+14155552671"),
    ("+1 415 555 2671", "GB", "+14155552671"),  # an international form ignores the region
    ("1-212-555-1234", "US", "+12125551234"),
    ("(613) 555-0199", "CA", "+16135550199"),
    ("07400 123456", "GB", "+447400123456"),  # MOBILE
    ("+44 56 1234 5678", "US", "+445612345678"),  # VOIP
    ("+44 70 1234 5678", "US", "+447012345678"),  # PERSONAL_NUMBER
    ("+33 6 12 34 56 78", "US", "+33612345678"),
    ("+49 1512 3456789", "US", "+4915123456789"),
    ("+61 4 1234 5678", "US", "+61412345678"),
    ("+91 98765 43210", "US", "+919876543210"),
]


@pytest.mark.parametrize(("raw", "region", "e164"), ACCEPTED)
def test_normalize_accepts(raw, region, e164):
    assert normalize(raw, region) == e164


REFUSED = [
    ("", "no phone number given"),
    ("   ", "no phone number given"),
    ("hello", "is not a phone number"),
    ("12", "wrong number of digits"),
    ("+1 415 555 26711", "wrong number of digits"),
    ("+1 555 0123", "not a valid US phone number"),
    ("+1 555 012 3456", "not a valid US phone number"),  # 555 is not an area code
    ("+1 800 555 1234", "toll-free"),
    ("1-800-FLOWERS", "toll-free"),
    ("+1 900 555 1234", "premium-rate"),
    ("+44 20 7946 0000", "landline"),
    ("+44 121 234 5678", "landline"),
    ("+33 1 23 45 67 89", "landline"),
    ("+44 800 123 4567", "toll-free"),
    ("+44 901 234 5678", "premium-rate"),
    ("+33 884 01 23 45", "shared-cost"),
    ("+44 55 1234 5678", "universal access"),
    ("+49 177 991234567", "voicemail"),
    ("+44 7640 123456", "pager"),
    ("+1 212 555 1234 ext. 5", "extension"),
]


@pytest.mark.parametrize(("raw", "reason"), REFUSED)
def test_normalize_refuses_with_a_reason(raw, reason):
    with pytest.raises(InvalidPhone) as caught:
        normalize(raw)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_refused_kinds_are_what_the_library_says():
    # Guard the table above against drift in the library's metadata.
    kinds = {
        "+442079460000": phonenumbers.PhoneNumberType.FIXED_LINE,
        "+33884012345": phonenumbers.PhoneNumberType.SHARED_COST,
        "+445512345678": phonenumbers.PhoneNumberType.UAN,
        "+49177991234567": phonenumbers.PhoneNumberType.VOICEMAIL,
        "+447640123456": phonenumbers.PhoneNumberType.PAGER,
    }
    for e164, kind in kinds.items():
        assert phonenumbers.number_type(phonenumbers.parse(e164)) == kind


ZONES = [
    ("+14155552671", ["America/Los_Angeles"], "America/Los_Angeles"),
    ("+12125551234", ["America/New_York"], "America/New_York"),
    ("+13055551234", ["America/New_York"], "America/New_York"),
    ("+18085551234", ["Pacific/Honolulu"], "Pacific/Honolulu"),
    ("+12085551234", ["America/Boise", "America/Los_Angeles"], "America/Boise"),  # Idaho spans two
    ("+19075551234", ["America/Adak", "America/Anchorage"], "America/Anchorage"),
    ("+16055551234", ["America/Denver", "America/North_Dakota/Center"], "America/North_Dakota/Center"),
    ("+447400123456", ["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/London"], None),
]


@pytest.mark.parametrize(("e164", "zones", "representative"), ZONES)
def test_time_zones(e164, zones, representative):
    assert candidate_time_zones(e164) == zones
    chosen = time_zone_for(e164)
    assert chosen in zones
    if representative:
        assert chosen == representative


def test_unplaced_number_falls_back_to_the_whole_country_code():
    # A number the plan cannot place (invalid here) gets every NANP zone: the cautious choice.
    zones = candidate_time_zones("+15550123456")
    assert zones == region_time_zones("US")
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(zones)


def test_time_zones_of_garbage_raise():
    with pytest.raises(InvalidPhone):
        candidate_time_zones("not a number")


STRICT_STATE_AREA_CODES = {
    "FL": "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954",
    "CT": "203 475 860 959",
    "MD": "227 240 301 410 443 667",
    "OK": "405 539 572 580 918",
    "WA": "206 253 360 425 509 564",
}

STATES = [
    *(
        (f"+1{code}2345678", state)
        for state, codes in STRICT_STATE_AREA_CODES.items()
        for code in codes.split()
    ),
    ("+12125551234", "NY"),
    ("+14155552671", "CA"),
    ("+12025551234", "DC"),
    ("+18085551234", "HI"),
    ("+17875551234", "PR"),
    ("+16135550199", None),  # Canada
    ("+12425551234", None),  # Bahamas
    ("+18005551234", None),  # toll-free, not geographic
    ("+447400123456", None),
    ("garbage", None),
]


@pytest.mark.parametrize(("e164", "state"), STATES)
def test_us_state_for(e164, state):
    assert us_state_for(e164) == state


def test_area_code_table_agrees_with_numbering_plan_geography():
    # Every US area code in the table is described by phonenumbers' geocoder as that state.
    names = {
        "WA": "Washington State",
        "DC": "Washington D.C.",
        "FL": "Florida",
        "CT": "Connecticut",
        "MD": "Maryland",
        "OK": "Oklahoma",
    }
    from phonenumbers import geocoder

    for code, state in AREA_CODE_STATE.items():
        if state not in names:
            continue
        number = phonenumbers.parse(f"+1{code}2345678")
        description = geocoder.description_for_number(number, "en")
        assert description.endswith((state, names[state])), (code, state, description)
