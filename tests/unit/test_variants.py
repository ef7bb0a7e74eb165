import pytest

from app.campaigns import variants
from app.campaigns.template import placeholders

BODY = "Acme: Hi {first_name|there}, {attributes.offer} Reply STOP to opt out."


@pytest.mark.parametrize("value", ["Ana", "Mary-Jane", "O'Neil", "Zoë", "St. John", "FALL-000123", "123456",
                                   "WINTER 7"])
def test_plain_values(value):
    assert variants.is_plain(value)


@pytest.mark.parametrize("value", ["bit.ly", "acme-deals.com/x", "415 555 0199", "1234567", "ana@x.io", "a_b",
                                   "x" * 41, "see: this", "a\nb", "http://x"])
def test_values_that_are_not_plain(value):
    assert not variants.is_plain(value)


def test_few_values_are_reviewed_by_value_and_many_by_rule():
    rows = [(f"Name{chr(65 + i % 26)}{i // 26}", {"offer": "20% off." if i % 2 else "Free shipping."})
            for i in range(variants.REVIEWABLE_VALUES + 1)]
    tallies = variants.tally(BODY, rows)
    assert variants.reviewed(tallies) == {"attributes.offer": {"values": ["20% off.", "Free shipping."]},
                                          "first_name": {"rule": "plain"}}
    # Each offer in turn (the name at its longest), then every placeholder at its longest value.
    assert [(v.placeholder, v.value, v.recipients, v.text) for v in variants.variants(BODY, tallies)] == [
        ("attributes.offer", "20% off.", 10, "Acme: Hi NameA0, 20% off. Reply STOP to opt out."),
        ("attributes.offer", "Free shipping.", 11, "Acme: Hi NameA0, Free shipping. Reply STOP to opt out."),
        (None, None, None, "Acme: Hi NameA0, Free shipping. Reply STOP to opt out.")]


def test_allows_holds_a_value_against_what_the_approval_bound():
    first_name, offer = placeholders(BODY)
    bound = {"attributes.offer": {"values": ["20% off."]}, "first_name": {"rule": "plain"}}
    assert variants.allows(bound, offer, "20% off.")
    assert not variants.allows(bound, offer, "Claim at bit.ly/x")
    assert variants.allows(bound, offer, "")  # the fallback is part of the reviewed body
    assert variants.allows(bound, first_name, "Zoe") and not variants.allows(bound, first_name, "Call 4155550199")
    assert not variants.allows(None, offer, "20% off.")  # approved before values were bound
    assert variants.unreviewed(bound, [first_name, offer], "Zoe", {"offer": "50% off."}) == "attributes.offer"
    assert variants.unreviewed(bound, [first_name, offer], None, {"offer": "  "}) is None
