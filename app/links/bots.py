"""Who fetched a tracked link: a person, or a previewer / crawler / safe-browsing agent. Pure.

Messaging apps and scanners fetch a link as soon as it arrives: iMessage builds its rich preview
(with a browser-like user agent that ends in ``facebookexternalhit/1.1 Facebot Twitterbot/1.0``),
WhatsApp, Facebook, Slack and X fetch cards, Google and Apple check links for safe browsing. None of
that is a person reading the text, so a click is ``bot`` when

- its user agent names a known previewer or crawler (``PREVIEWERS``, then the generic words), or has none;
- it is a ``HEAD`` request (browsers opening a link send ``GET``);
- it came within ``preview_seconds`` of the message's delivery (or its sending, before the delivery
  receipt): on-device previews and carrier scanners fetch at once, with ordinary browser agents.

Everything else is ``human``. The ``reason`` says which rule decided, for the report and for tests.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from app.vocab.link import ClickKind

#: (reason, pattern) — the named previewers, matched case-insensitively anywhere in the user agent.
PREVIEWERS: tuple[tuple[str, str], ...] = (
    ("imessage", r"facebookexternalhit/1\.1 facebot twitterbot"),  # Apple Messages' preview fetcher
    ("facebook", r"facebookexternalhit|facebot|facebookcatalog|meta-externalagent|meta-externalfetcher"),
    ("twitter", r"twitterbot"),
    ("slack", r"slackbot|slack-imgproxy"),
    ("whatsapp", r"whatsapp"),
    ("telegram", r"telegrambot"),
    ("discord", r"discordbot"),
    ("linkedin", r"linkedinbot"),
    ("skype", r"skypeuripreview"),
    ("microsoft", r"bingpreview|bingbot|microsoftpreview|msnbot"),
    ("snapchat", r"snap url preview"),
    ("viber", r"viber"),
    ("pinterest", r"pinterest"),
    ("google", r"googlebot|google-safety|google-inspectiontool|googleother|google-pagerenderer|google-read-aloud"
               r"|adsbot-google|mediapartners-google|apis-google|feedfetcher-google|google favicon"
               r"|googleimageproxy|google-extended|storebot-google|duplexweb-google"),
    ("apple", r"applebot|imessagelinkpreviews"),
    ("embedder", r"embedly|iframely|outbrain|quora link preview|redditbot|yandex|baiduspider|duckduckbot"
                 r"|petalbot|ahrefsbot|semrushbot|mj12bot|dotbot|bytespider|amazonbot|gptbot|chatgpt-user"),
    ("scanner", r"headlesschrome|phantomjs|python-requests|python-httpx|python-urllib|aiohttp|go-http-client"
                r"|curl/|wget/|libwww-perl|java/|okhttp/3\.|scrapy|node-fetch|axios/|postmanruntime"),
)
_NAMED = [(reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in PREVIEWERS]
# The generic words, not inside a word that happens to contain them (CUBOT phones, "Abbott").
_GENERIC = re.compile(r"(?<![a-z])(?:[a-z]*bot(?!t)|[a-z]*crawler|[a-z]*spider|preview|fetcher)(?![a-z])",
                      re.IGNORECASE)
_NOT_BOTS = re.compile(r"\bcubot\b", re.IGNORECASE)

DEFAULT_PREVIEW_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    kind: ClickKind
    reason: str | None  # the previewer or rule that made it a bot; None for a person


HUMAN = Verdict(ClickKind.HUMAN, None)


@functools.lru_cache(maxsize=4096)
def agent_reason(user_agent: str | None) -> str | None:
    """Why ``user_agent`` is not a person's browser, or None when it looks like one (remembered: a
    campaign's clicks come from a few hundred distinct agents)."""
    if not user_agent or not user_agent.strip():
        return "no_user_agent"
    for reason, pattern in _NAMED:
        if pattern.search(user_agent):
            return reason
    for match in _GENERIC.finditer(user_agent):
        if not _NOT_BOTS.fullmatch(match.group(0)):
            return "crawler"
    return None


def classify(*, user_agent: str | None, method: str, clicked_at: datetime, delivered_at: datetime | None,
             preview_seconds: float = DEFAULT_PREVIEW_SECONDS) -> Verdict:
    """The verdict on one click. ``delivered_at``: the message's delivery, or its sending when no
    delivery receipt has come (None when neither is known)."""
    reason = agent_reason(user_agent)
    if reason is not None:
        return Verdict(ClickKind.BOT, reason)
    if method.upper() == "HEAD":
        return Verdict(ClickKind.BOT, "head_request")
    if delivered_at is not None and (clicked_at - delivered_at).total_seconds() < preview_seconds:
        return Verdict(ClickKind.BOT, "near_delivery")
    return HUMAN


def truncated_ip(address: str | None) -> str | None:
    """The network an address is in, never the address: IPv4 to /24, IPv6 to /48 (an IPv4-mapped
    IPv6 address as IPv4)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
