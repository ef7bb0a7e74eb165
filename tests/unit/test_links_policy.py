"""Tracked links, the pure parts: which URLs are rewritten and how long they come out, and who a click
came from (real previewer user agents, real browsers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.campaigns import segments
from app.config import Settings
from app.links import bots, rewrite
from app.vocab.link import ClickKind

DOMAIN = "https://acme.link"


def test_urls_are_found_with_their_trailing_punctuation_left_as_text():
    text = ("Sale! See https://shop.acme.com/fall?utm=sms&x=1. Or www.acme.com/stores, "
            "(details: https://acme.com/terms) and https://en.wikipedia.org/wiki/Fall_(season)! Reply STOP")
    assert [f.url for f in rewrite.find_urls(text)] == [
        "https://shop.acme.com/fall?utm=sms&x=1", "www.acme.com/stores", "https://acme.com/terms",
        "https://en.wikipedia.org/wiki/Fall_(season)"]
    assert rewrite.find_urls("www.acme.com")[0].destination == "https://www.acme.com"
    assert rewrite.find_urls("email ana@www.acme.com or http:// alone") == []


def test_links_already_on_the_link_domain_are_left_alone():
    text = "Old: https://acme.link/AAAAAAAAAAAAAAAA new: https://acme.com/x"
    assert [f.url for f in rewrite.find_urls(text, DOMAIN)] == ["https://acme.com/x"]


def test_each_recipient_gets_fresh_tokens_of_a_fixed_length():
    text = "Acme: https://acme.com/a and https://acme.com/b?c=d. Reply STOP"
    body, made = rewrite.tracked(text, DOMAIN)
    tokens = [token for _, token, _ in made]
    assert [(p, d) for p, _, d in made] == [(0, "https://acme.com/a"), (1, "https://acme.com/b?c=d")]
    assert body == f"Acme: {DOMAIN}/{tokens[0]} and {DOMAIN}/{tokens[1]}. Reply STOP"
    assert all(len(t) == rewrite.TOKEN_CHARS and rewrite.TOKEN_PATTERN.fullmatch(t) for t in tokens)
    assert rewrite.TOKEN_BYTES * 8 >= 64
    many = {rewrite.new_token() for _ in range(20_000)}
    assert len(many) == 20_000  # 96 random bits: no collision, no sequence
    # What review counts is exactly what goes out.
    assert len(rewrite.as_counted(text, DOMAIN)) == len(body)
    assert rewrite.as_counted(text, None) == text


def test_a_long_url_priced_as_the_short_link_it_is_sent_as():
    text = "Acme: our fall catalogue is online at https://shop.acme.com/catalogue/2026/fall?utm_source=sms" \
           "&utm_medium=text&utm_campaign=fall-catalogue-2026 " + "with every new arrival in store. " * 2 + \
           "Reply STOP to opt out"
    assert segments.segment_info(text).segments == 2
    counted = rewrite.as_counted(text, DOMAIN)
    assert segments.segment_info(counted).segments == 1
    assert rewrite.counting_link(DOMAIN) in counted


# Real user agents, as the services send them.
PREVIEWERS = {
    "imessage": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
                "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "twitter": "Twitterbot/1.0",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "telegram": "TelegramBot (like TwitterBot)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "skype": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "google": "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "google-safety": "Google-Safety",
    "apple": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "bing": "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
    "snapchat": "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots)",
    "curl": "curl/8.5.0",
}
BROWSERS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; CUBOT P40) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
    "Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
]
DELIVERED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
LATER = DELIVERED + timedelta(minutes=5)


@pytest.mark.parametrize(("name", "agent"), PREVIEWERS.items())
def test_previewers_are_bots_whenever_they_come(name, agent):
    verdict = bots.classify(user_agent=agent, method="GET", clicked_at=LATER, delivered_at=DELIVERED)
    assert verdict.kind == ClickKind.BOT, name
    assert verdict.reason is not None


def test_imessage_is_named_as_such_not_as_facebook():
    assert bots.agent_reason(PREVIEWERS["imessage"]) == "imessage"
    assert bots.agent_reason(PREVIEWERS["facebook"]) == "facebook"


@pytest.mark.parametrize("agent", BROWSERS)
def test_phones_browsers_are_people_after_the_first_seconds(agent):
    assert bots.classify(user_agent=agent, method="GET", clicked_at=LATER, delivered_at=DELIVERED) == bots.HUMAN
    # ... but not in the seconds after delivery (on-device previews and carrier scanners), nor as HEAD.
    soon = bots.classify(user_agent=agent, method="GET", clicked_at=DELIVERED + timedelta(seconds=3),
                         delivered_at=DELIVERED)
    assert (soon.kind, soon.reason) == (ClickKind.BOT, "near_delivery")
    head = bots.classify(user_agent=agent, method="HEAD", clicked_at=LATER, delivered_at=DELIVERED)
    assert (head.kind, head.reason) == (ClickKind.BOT, "head_request")


def test_no_user_agent_is_a_bot():
    for agent in (None, "", "  "):
        assert bots.classify(user_agent=agent, method="GET", clicked_at=LATER, delivered_at=DELIVERED).kind == "bot"


def test_addresses_are_kept_only_as_their_network():
    assert bots.truncated_ip("203.0.113.77") == "203.0.113.0/24"
    assert bots.truncated_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::/48"
    assert bots.truncated_ip("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert bots.truncated_ip("not an address") is None and bots.truncated_ip(None) is None


def test_the_link_domain_is_a_scheme_and_a_host():
    assert Settings(link_domain="https://acme.link/", _env_file=None).link_domain == "https://acme.link"
    assert Settings(link_domain="", _env_file=None).link_domain is None
    for bad in ("acme.link", "ftp://acme.link", "https://acme.link/go", "https://acme.link?x=1"):
        with pytest.raises(ValidationError, match="scheme and a host"):
            Settings(link_domain=bad, _env_file=None)
