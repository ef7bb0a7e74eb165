import dataclasses
import time

import pytest

from app.campaigns.content import ContentContext, check_content, full_body, has_opt_out
from app.campaigns.segments import segment_info
from app.vocab.opt_out import DEFAULT_OPT_OUT_TEXT

CLEAN = "Acme: 20% off everything this weekend at acme.com. Reply STOP to opt out."


def ctx(**overrides) -> ContentContext:
    base = ContentContext(brand_name="Acme", sender_verified=True, company_domains=frozenset({"acme.com"}))
    return dataclasses.replace(base, **overrides)


def findings(body: str, code: str, **overrides):
    return [f for f in check_content(body, ctx(**overrides)) if f.code == code]


def test_a_clean_campaign_has_no_findings():
    assert check_content(CLEAN, ctx()) == []


def test_findings_are_in_a_stable_order():
    body = "Hi {Name}, get 20% off bit.ly/x"
    first = [f.code for f in check_content(body, ctx(sender_verified=False))]
    assert first == [f.code for f in check_content(body, ctx(sender_verified=False))]
    assert first[:2] == ["sender_not_verified", "opt_out_missing"]


# --- sender and lists ---------------------------------------------------------------------------


@pytest.mark.parametrize(("verified", "expected"), [(False, ["block"]), (True, [])])
def test_sender_not_verified_blocks(verified, expected):
    assert [f.severity for f in findings(CLEAN, "sender_not_verified", sender_verified=verified)] == expected


def test_the_sender_is_unverified_unless_said_otherwise():
    assert [f.code for f in check_content(CLEAN, ContentContext(brand_name="Acme"))] == ["sender_not_verified"]


@pytest.mark.parametrize(
    ("counts", "named"),
    [
        ({}, []),
        ({"Newsletter": 120}, []),
        ({"VIP": 0}, ["VIP"]),
        ({"VIP": 0, "Newsletter": 120, "Old": 0}, ["VIP", "Old"]),
    ],
)
def test_list_without_sendable_warns_for_each_empty_list(counts, named):
    found = findings(CLEAN, "list_without_sendable", sendable_counts=counts)
    assert [f.severity for f in found] == ["warn"] * len(named)
    for finding, name in zip(found, named, strict=True):
        assert repr(name) in finding.message


# --- opt-out ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instruction",
    [
        "Reply STOP to opt out",
        "Reply STOP to opt out.",
        "Txt STOP to end",
        "STOP to unsubscribe",
        "text STOP",
        "reply STOP",
        "Opt out: STOP",
        "Opt-out: reply STOP",
        "Unsubscribe - STOP",
        "Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
        "Text STOP2END",
        "Reply with \"STOP\" to stop receiving texts",
        "Reply “STOP” to opt out",
        "To stop receiving texts, reply STOP",
        "Reply STOPALL to leave every list",
        "Reply END to unsubscribe",
        "STOP=stop",
    ],
)
def test_opt_out_instructions_are_recognised(instruction):
    assert has_opt_out(instruction)
    assert findings(f"Acme: 20% off today. {instruction}", "opt_out_missing") == []


@pytest.mark.parametrize(
    "body",
    [
        "Acme: 20% off today only!",
        "Acme: Stop by our store for 20% off.",
        "Acme: Don't stop now, the sale ends tonight.",
        "Acme: Non-stop savings all weekend.",
        "Acme: Reply YES to confirm your appointment.",
        "Acme: Unsubscribe at acme.com/unsub",
        "Acme: reply end of month for details",
        "Acme: STOP",
    ],
)
def test_opt_out_missing_blocks_without_a_keyword_instruction(body):
    (finding,) = findings(body, "opt_out_missing")
    assert finding.severity == "block"
    assert "STOP" in finding.message


def test_appended_opt_out_text_satisfies_the_check():
    body = "Acme: 20% off today only!"
    assert findings(body, "opt_out_missing", append_opt_out=True) == []
    assert full_body(body, ctx(append_opt_out=True)) == body + "\n" + DEFAULT_OPT_OUT_TEXT


@pytest.mark.parametrize(
    ("body", "overrides", "expected"),
    [
        ("Acme: sale", {"append_opt_out": False}, "Acme: sale"),
        ("Acme: sale", {"append_opt_out": True}, "Acme: sale\nReply STOP to opt out."),
        ("Acme: sale\n", {"append_opt_out": True}, "Acme: sale\nReply STOP to opt out."),
        ("Acme: sale", {"append_opt_out": True, "opt_out_text": "Txt STOP to end"}, "Acme: sale\nTxt STOP to end"),
        ("Acme: sale. Txt STOP to end", {"append_opt_out": True}, "Acme: sale. Txt STOP to end"),
        ("Acme: sale. Reply STOP to opt out.", {"append_opt_out": True}, "Acme: sale. Reply STOP to opt out."),
        ("Acme: sale", {"append_opt_out": True, "opt_out_text": "  "}, "Acme: sale"),
    ],
)
def test_full_body_appends_the_opt_out_text_once(body, overrides, expected):
    assert full_body(body, ctx(**overrides)) == expected


def test_a_custom_opt_out_text_without_a_keyword_does_not_satisfy_the_check():
    overrides = {"append_opt_out": True, "opt_out_text": "Manage alerts at acme.com"}
    (finding,) = findings("Acme: sale", "opt_out_missing", **overrides)
    assert "'Manage alerts at acme.com' names no keyword" in finding.message


def test_the_appended_text_counts_towards_the_segments():
    body = "Acme: " + "a" * 150
    assert segment_info(body).segments == 1
    assert segment_info(full_body(body, ctx(append_opt_out=True))).segments == 2


# --- brand --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("brand", "body"),
    [
        ("Acme", "Acme: 20% off. Reply STOP to opt out."),
        ("Acme", "Sale today at ACME! Reply STOP to opt out."),
        ("Joe's Pizza", "Joe’s Pizza: 2 for 1 tonight. Reply STOP to opt out."),
        ("Joe's Pizza", "Joes  Pizza: 2 for 1 tonight. Reply STOP to opt out."),
        ("H&M", "H&M: new arrivals. Reply STOP to opt out."),
    ],
)
def test_brand_present(brand, body):
    assert findings(body, "brand_missing", brand_name=brand) == []


@pytest.mark.parametrize(
    ("brand", "body"),
    [
        ("Acme", "20% off today. Reply STOP to opt out."),
        ("Acme", "Welcome to Acmeville! Reply STOP to opt out."),
        ("Joe's Pizza", "Joe's: 2 for 1 tonight. Reply STOP to opt out."),
    ],
)
def test_brand_missing_warns_or_blocks_when_required(brand, body):
    (warn,) = findings(body, "brand_missing", brand_name=brand)
    (block,) = findings(body, "brand_missing", brand_name=brand, require_brand=True)
    assert (warn.severity, block.severity) == ("warn", "block")
    assert brand in warn.message


def test_brand_in_the_appended_opt_out_text_counts():
    overrides = {"append_opt_out": True, "opt_out_text": "Reply STOP to end Acme texts."}
    assert findings("20% off today.", "brand_missing", **overrides) == []


def test_no_brand_configured_is_reported():
    (finding,) = findings(CLEAN, "brand_missing", brand_name=" ", require_brand=True)
    assert finding.severity == "block"
    assert "no brand name" in finding.message


# --- link shorteners ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "domain"),
    [
        ("bit.ly/3xYz", "bit.ly"),
        ("https://bit.ly/3xYz", "bit.ly"),
        ("HTTP://BIT.LY/3xYz", "bit.ly"),
        ("tinyurl.com/acme-sale", "tinyurl.com"),
        ("https://t.co/abc", "t.co"),
        ("goo.gl/maps/x", "goo.gl"),
        ("ow.ly/x", "ow.ly"),
        ("is.gd/x", "is.gd"),
        ("rebrand.ly/x", "rebrand.ly"),
        ("cutt.ly/x", "cutt.ly"),
        ("t.ly/x", "t.ly"),
        ("rb.gy/x", "rb.gy"),
        ("tiny.cc/x", "tiny.cc"),
        ("buff.ly/x", "buff.ly"),
        ("shorturl.at/x", "shorturl.at"),
        ("s.id/x", "s.id"),
        ("v.gd/x", "v.gd"),
        ("lnkd.in/x", "lnkd.in"),
        ("tr.im/x", "tr.im"),
        ("x.co/x", "x.co"),
        ("www.bit.ly/x", "bit.ly"),
        ("bit.ly", "bit.ly"),
    ],
)
def test_url_shortener_blocks(link, domain):
    body = f"Acme: 20% off at {link}. Reply STOP to opt out."
    (finding,) = findings(body, "url_shortener")
    assert finding.severity == "block"
    assert domain in finding.message
    assert body[finding.span[0]:finding.span[1]].lower().endswith(domain)


@pytest.mark.parametrize(
    "link",
    ["fit.com/sale", "t.company.com", "what.com", "acme.com/bit.ly-guide", "help@bit.ly", "rebrandly.com", "cutt.lyrics.net"],
)
def test_ordinary_links_are_not_shorteners(link):
    assert findings(f"Acme: see {link}. Reply STOP to opt out.", "url_shortener") == []


# --- SHAFT --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Feeling sexy? New lingerie line", "sexual"),
        ("Free beer with every burger", "alcohol"),
        ("Happy hour 4-6pm", "alcohol"),
        ("Bottomless mimosas Sunday", "alcohol"),
        ("Gun show this weekend", "firearms"),
        ("Ammo restocked", "firearms"),
        ("New cigars in the humidor", "tobacco"),
        ("Vape juice 2 for $20", "tobacco"),
        ("CBD gummies are back", "cannabis"),
        ("Our dispensary opens at 9", "cannabis"),
        ("Free spins at the casino", "gambling"),
        ("Sports betting odds inside", "gambling"),
        ("Payday loans, no credit check", "lending"),
        ("Join the white power rally", "hate"),
    ],
)
def test_shaft_terms_warn_and_name_the_category(text, category):
    (finding,) = findings(f"Acme: {text}. Reply STOP to opt out.", "shaft_term")
    assert finding.severity == "warn"
    assert category in finding.message


@pytest.mark.parametrize(
    "text",
    [
        "Visit us in Essex",
        "Our Sussex and Middlesex stores",
        "Whatever you need, we have it",
        "We hate to see you go",
        "Root beer floats for kids",
        "Hot glue guns 30% off",
        "New massage gun in stock",
        "Flu shots available",
        "Unisex sizing on all tees",
        "Sign up for our ginger shots",
    ],
)
def test_shaft_ignores_lookalike_words(text):
    assert findings(f"Acme: {text}. Reply STOP to opt out.", "shaft_term") == []


def test_shaft_blocks_when_configured_and_lists_every_term():
    (finding,) = findings("Acme: beer, wine and cocktails. Reply STOP to opt out.", "shaft_term", shaft_blocks=True)
    assert finding.severity == "block"
    assert all(word in finding.message for word in ("'beer'", "'wine'", "'cocktails'"))
    assert finding.span == (6, 10)


# --- placeholders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "raw", "hint"),
    [
        ("Acme: Hi {First Name}! Reply STOP to opt out.", "{First Name}", "{first_name}"),
        ("Acme: Hi {attribute.city}! Reply STOP to opt out.", "{attribute.city}", "{attributes.city}"),
        ("Acme: Call {phone}. Reply STOP to opt out.", "{phone}", "{attributes.<column>}"),
    ],
)
def test_unknown_placeholder_blocks_and_points_at_it(body, raw, hint):
    (finding,) = findings(body, "unknown_placeholder")
    assert finding.severity == "block"
    assert body[finding.span[0]:finding.span[1]] == raw
    assert raw in finding.message and hint in finding.message


@pytest.mark.parametrize(
    "body",
    [
        "Acme: Hi {first_name|there}! Reply STOP to opt out.",
        "Acme: Hi from {attributes.city}. Reply STOP to opt out.",
        "Acme: use {{CODE}}. Reply STOP to opt out.",
    ],
)
def test_known_placeholders_and_escapes_pass(body):
    assert findings(body, "unknown_placeholder") == []


# --- encoding and length ------------------------------------------------------------------------


def test_ucs2_warns_with_the_character_its_position_and_the_cost():
    body = "Acme: It’s our biggest sale of the year, with 40% off everything in store and online this weekend. Reply STOP to opt out."
    (finding,) = findings(body, "encoding_ucs2")
    assert finding.severity == "warn"
    assert "’" in finding.message and "position 9" in finding.message
    assert "2 segments instead of 1" in finding.message and "2×" in finding.message
    assert "with \"'\"" in finding.message
    assert finding.span == (8, 9)


def test_ucs2_in_a_short_message_explains_the_smaller_segment():
    (finding,) = findings("Acme: 🎉 sale! Reply STOP to opt out.", "encoding_ucs2")
    assert "still 1 segment" in finding.message
    assert "party popper" in finding.message and "no GSM-7 equivalent" in finding.message


def test_invisible_offenders_are_named():
    (finding,) = findings("Acme:\u00a0sale! Reply STOP to opt out.", "encoding_ucs2")
    assert "no-break space" in finding.message


def test_gsm_text_has_no_encoding_finding():
    assert findings("Acme: €5 off {first_name}! Reply STOP to opt out.", "encoding_ucs2") == []


@pytest.mark.parametrize(("length", "warned"), [(150, False), (459, False), (460, True), (900, True)])
def test_segments_over_3_warns_with_count_and_cost(length, warned):
    body = "Acme: Reply STOP to opt out. "
    body += "a" * (length - len(body))
    found = findings(body, "segments_over_3")
    assert bool(found) == warned
    if warned:
        segments = segment_info(body).segments
        assert f"{segments} segments" in found[0].message and f"{segments}×" in found[0].message


def test_segments_count_placeholders_at_an_estimated_length():
    body = "Acme: Reply STOP to opt out. " + "{first_name} " * 40
    (finding,) = findings(body, "segments_over_3")
    assert "placeholder" in finding.message


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(("share", "warned"), [(None, False), (0.0, False), (0.5, False), (0.51, True), (1.0, True)])
def test_quiet_hours_warns_when_most_of_the_audience_is_asleep(share, warned):
    found = findings(CLEAN, "quiet_hours", quiet_hours_share=share)
    assert bool(found) == warned
    if warned:
        assert f"{share:.0%}" in found[0].message and found[0].severity == "warn"


# --- personal contact details -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Call (415) 555-0134 to book", {"+14155550134"}),
        ("Call 415.555.0134 to book", {"+14155550134"}),
        ("Call 1-800-555-0123", {"+18005550123"}),
        ("Text JOIN to 55555", set()),
        ("2 for $25, 11/20 at 7:30pm", set()),
        ("Email help@acme.com", set()),
        ("Email team@support.acme.com", set()),
        ("Email owner@gmail.com", set()),  # listed in company_emails below
    ],
)
def test_company_contacts_pass(text, numbers):
    overrides = {"company_numbers": frozenset(numbers), "company_emails": frozenset({"OWNER@gmail.com"})}
    assert findings(f"Acme: {text}. Reply STOP to opt out.", "personal_contact", **overrides) == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Call me on 917-555-0123", "917-555-0123"),
        ("Call (415) 555-0199 to book", "(415) 555-0199"),
        ("Call 555-0199", "555-0199"),
        ("Email jenny.rep84@gmail.com", "jenny.rep84@gmail.com"),
        ("Email me@acme.co", "me@acme.co"),
        ("Email me@notacme.com", "me@notacme.com"),
    ],
)
def test_personal_contact_warns_and_points_at_it(text, flagged):
    body = f"Acme: {text}. Reply STOP to opt out."
    (finding,) = findings(body, "personal_contact", company_numbers=frozenset({"+14155550134"}))
    assert finding.severity == "warn"
    assert body[finding.span[0]:finding.span[1]] == flagged
    assert flagged in finding.message


# --- robustness ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["a." * 5000, "a@" * 5000, "opt out" + " " * 10000 + "x", "{first_name} " * 2000, "🎉" * 5000, "you " * 3000],
)
def test_long_hostile_bodies_are_checked_in_linear_time(body):
    started = time.perf_counter()
    check_content(body, ctx())
    assert time.perf_counter() - started < 1.0
