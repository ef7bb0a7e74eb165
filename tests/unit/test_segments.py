import pytest

from app.campaigns.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    segment_info,
    suggest_replacements,
    to_gsm7,
)


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("Hello", "GSM-7", 5, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("line one\nline two", "GSM-7", 17, 1),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("{}[]~^|\\\f€", "GSM-7", 20, 1),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # the escape pair is not split: 152 | 2+151 | 1
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # emoji are surrogate pairs: two units each
        ("😀" * 36, "UCS-2", 72, 2),
        ("ê" * 66 + "😀" + "ê" * 66, "UCS-2", 134, 3),  # the surrogate pair is not split: 66 | 2+65 | 1
        ("ê" + "€" * 69, "UCS-2", 70, 1),  # in UCS-2 the euro sign is an ordinary character
    ],
)
def test_encoding_units_and_segments(body, encoding, units, segments):
    info = segment_info(body)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


@pytest.mark.parametrize(
    ("body", "ucs2_chars"),
    [
        ("Plain GSM text @ £5", []),
        ("It’s 🎉", [("’", 2), ("🎉", 5)]),
        ("Zoë", [("ë", 2)]),
        ("nbsp\u00a0here", [("\u00a0", 4)]),
        ("Ñandú", [("ú", 4)]),  # Ñ is GSM-7, ú is not
    ],
)
def test_ucs2_chars_name_each_offender_and_its_index(body, ucs2_chars):
    assert segment_info(body).ucs2_chars == ucs2_chars


@pytest.mark.parametrize(
    ("body", "extension_chars"),
    [
        ("no extensions", []),
        ("a{b}", [("{", 1), ("}", 3)]),
        ("€5 off", [("€", 0)]),
        ("ê {x}", []),  # only listed when they cost extra, i.e. in GSM-7
    ],
)
def test_extension_chars_are_listed_in_gsm7(body, extension_chars):
    assert segment_info(body).extension_chars == extension_chars


def test_every_gsm7_character_stays_gsm7():
    info = segment_info("".join(sorted(GSM7_BASIC | GSM7_EXTENSION)))
    assert info.encoding == "GSM-7"
    assert info.units == len(GSM7_BASIC) + 2 * len(GSM7_EXTENSION)


@pytest.mark.parametrize(("body", "per_segment"), [("a", 160), ("a" * 200, 153), ("ê", 70), ("ê" * 80, 67)])
def test_per_segment_capacity(body, per_segment):
    assert segment_info(body).per_segment == per_segment


@pytest.mark.parametrize(
    ("char", "replacement"),
    [
        ("\u2018", "'"),
        ("\u2019", "'"),
        ("\u201c", '"'),
        ("\u201d", '"'),
        ("\u2013", "-"),
        ("\u2014", "-"),
        ("\u2026", "..."),
        ("\u00a0", " "),
        ("\u200b", ""),
    ],
)
def test_common_offenders_have_a_gsm_replacement(char, replacement):
    body = f"a{char}b"
    assert suggest_replacements(body)[0].replacement == replacement
    assert suggest_replacements(body)[0].index == 1
    assert segment_info(to_gsm7(body)).encoding == "GSM-7"


def test_suggestions_skip_characters_without_a_look_alike():
    assert [r.char for r in suggest_replacements("It’s 🎉 time…")] == ["’", "…"]


def test_to_gsm7_rewrites_punctuation_and_keeps_emoji_unless_asked():
    body = "It’s “great” — really…\u00a0🎉"
    assert to_gsm7(body) == "It's \"great\" - really... 🎉"
    assert to_gsm7(body, drop_others=True) == "It's \"great\" - really... "
    assert segment_info(to_gsm7(body, drop_others=True)).encoding == "GSM-7"


def test_one_curly_quote_doubles_the_segments():
    straight = "a" * 100 + "'"
    curly = "a" * 100 + "’"
    assert segment_info(straight).segments == 1
    assert segment_info(curly).segments == 2
