import pytest

from app.campaigns.content import ContentContext, check_content, looks_personal, oops_cues
from tests.unit.oops_table import (
    KNOWN_FALSE_ALARMS,
    KNOWN_MISSES,
    MARKETING,
    PERSONAL,
    PERSONAL_BRAND,
    Marketing,
)

OOPS_CODES = {"oops_personal", "personal_contact"}


def marketing_findings(case: Marketing):
    ctx = ContentContext(
        brand_name=case.brand,
        sender_verified=True,
        company_numbers=case.company_numbers,
        company_domains=case.company_domains,
    )
    return [f for f in check_content(case.body, ctx) if f.code in OOPS_CODES]


def personal_findings(body: str):
    ctx = ContentContext(brand_name=PERSONAL_BRAND, sender_verified=True)
    return [f for f in check_content(body, ctx) if f.code in OOPS_CODES]


@pytest.mark.parametrize("case", MARKETING, ids=lambda case: case.body[:40])
def test_marketing_copy_is_not_flagged_as_personal(case):
    assert marketing_findings(case) == []


@pytest.mark.parametrize("body", PERSONAL)
def test_personal_texts_are_caught(body):
    found = personal_findings(body)
    assert found
    assert {f.severity for f in found} == {"warn"}


@pytest.mark.parametrize("case", KNOWN_FALSE_ALARMS, ids=lambda case: case.body[:40])
def test_known_false_alarms_still_fire(case):
    """When one of these stops firing, move it into MARKETING."""
    assert marketing_findings(case)


@pytest.mark.parametrize("body", KNOWN_MISSES)
def test_known_misses_still_slip_through(body):
    """When one of these starts being caught, move it into PERSONAL."""
    assert personal_findings(body) == []


def test_hit_and_false_alarm_counts():
    hits = sum(1 for body in PERSONAL + KNOWN_MISSES if personal_findings(body))
    false_alarms = sum(1 for case in MARKETING + KNOWN_FALSE_ALARMS if marketing_findings(case))
    total_personal = len(PERSONAL) + len(KNOWN_MISSES)
    total_marketing = len(MARKETING) + len(KNOWN_FALSE_ALARMS)
    print(f"\noops detector: caught {hits}/{total_personal} personal, flagged {false_alarms}/{total_marketing} marketing")
    assert len(PERSONAL) >= 30 and len(MARKETING) >= 30
    assert hits == len(PERSONAL)
    assert false_alarms == len(KNOWN_FALSE_ALARMS)


@pytest.mark.parametrize(
    ("body", "first", "listed"),
    [
        ("hey babe running late, pick up milk?", "babe", ["'babe' (term of endearment)", "'running late'", "'pick up milk'"]),
        ("lol did you see that", "lol", ["'lol' (texting slang)", "'did you see' (private plans)"]),
        ("miss you already xoxo", "miss you", ["'miss you' (love or kisses)", "'xoxo'"]),
        ("Can't wait to see you tonight 😘", "Can't wait to see you", ["(flirting)", "'😘' (kiss or heart emoji)"]),
    ],
)
def test_the_message_lists_the_triggering_words_and_the_span_points_at_the_first(body, first, listed):
    (finding,) = [f for f in personal_findings(body) if f.code == "oops_personal"]
    assert body[finding.span[0]:finding.span[1]] == first
    for words in listed:
        assert words in finding.message


def test_a_personal_number_is_reported_separately_from_the_tone():
    found = personal_findings("call me later on my cell 555-867-5309")
    assert [f.code for f in found] == ["oops_personal", "personal_contact"]


def test_the_unbranded_nudge_is_explained():
    (finding,) = [f for f in personal_findings("dinner tonight? I can cook") if f.code == "oops_personal"]
    assert f"never names {PERSONAL_BRAND!r}" in finding.message


@pytest.mark.parametrize(
    ("brand", "body"),
    [
        ("Babe's Boutique", "Babe's Boutique: Spring dresses are 20% off this week. Reply STOP to opt out."),
        ("XOXO Jewelry", "XOXO Jewelry: New charms just dropped. Reply STOP to opt out."),
        ("LOL Comedy Club", "LOL Comedy Club: Two shows Friday, tickets $15. Reply STOP to opt out."),
    ],
)
def test_the_brand_name_never_counts_as_a_cue(brand, body):
    assert oops_cues(body, brand)[0] == []


def test_links_never_count_as_cues():
    assert oops_cues("Acme: see acme.com/lol-babe-xoxo for the sale", "Acme")[0] == []


@pytest.mark.parametrize(
    ("body", "personal"),
    [
        ("We love you, customers!", False),
        ("I love you", True),
        ("We miss you! Come back", False),
        ("We've missed you at the gym", False),
        ("miss you", True),
        ("We can't wait to see you Saturday", False),
        ("can't wait to see you", False),  # one soft cue on its own is not enough
        ("can't wait to see you ❤️", True),
        ("Say \"I love you\" with roses", False),
        ("Hey, baby shower season is here", False),
        ("Thanks honey", True),
        ("Honey-glazed ham for the holidays", False),
    ],
)
def test_cues_read_in_context(body, personal):
    assert looks_personal(*oops_cues(body)) is personal


def test_campaign_signals_outweigh_soft_cues():
    soft = "OMG lol, the sale is back"
    assert looks_personal(*oops_cues(soft))
    assert not looks_personal(*oops_cues(soft + ": 40% off with code BACK40 at acme.com"))
