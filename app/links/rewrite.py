"""Tracked links: every URL of a message replaced by a link on the company's own short domain.

Pure: no I/O. ``FINELINE_LINK_DOMAIN`` (e.g. ``https://acme.link``) is the domain; a tracked link is
``<domain>/<token>`` where the token is ``TOKEN_CHARS`` characters of ``secrets.token_urlsafe`` (96
random bits: one token tells nothing about another). Its length never depends on the destination,
so counting and pricing a body replace each URL by ``counting_link`` of the same length, and the
review shows that text.

A URL is what a phone would make a link of: ``http://`` or ``https://`` followed by anything up to
a blank, or a bare ``www.`` host; trailing punctuation (``.``, ``,``, ``!``, ``?``, a closing bracket
or quote that the URL did not open) stays text. A URL already on the link domain is left alone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

TOKEN_BYTES = 12  # 96 random bits
TOKEN_CHARS = 16  # len(secrets.token_urlsafe(TOKEN_BYTES))
TOKEN_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")

_URL = re.compile(r"(?<![\w@/.-])(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?'*"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Found:
    url: str  # as written in the text
    span: tuple[int, int]

    @property
    def destination(self) -> str:
        """Where the tracked link leads: the URL as written, with https:// before a bare www. host."""
        return self.url if "://" in self.url else "https://" + self.url


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _PAIRS and url.count(last) > url.count(_PAIRS[last])):
            url = url[:-1]
        else:
            break
    return url


def _host(url: str) -> str:
    return (urlsplit(url if "://" in url else "https://" + url).hostname or "").lower()


def find_urls(text: str, link_domain: str | None = None) -> list[Found]:
    """The URLs of ``text`` that a tracked link replaces, in order (none on ``link_domain`` itself)."""
    own = _host(link_domain) if link_domain else None
    found = []
    for match in _URL.finditer(text):
        url = _trim(match.group(0))
        if "://" in url and not urlsplit(url).hostname:
            continue  # "http://" alone
        if len(url) <= len("www.") or (own and _host(url) == own):
            continue
        found.append(Found(url, (match.start(), match.start() + len(url))))
    return found


def link_url(link_domain: str, token: str) -> str:
    return f"{link_domain.rstrip('/')}/{token}"


def counting_link(link_domain: str) -> str:
    """A stand-in with the length and alphabet of every tracked link: what the review counts and shows."""
    return link_url(link_domain, "x" * TOKEN_CHARS)


def replace(text: str, link_domain: str, token_for: Callable[[int, Found], str]) -> str:
    """``text`` with each URL replaced by ``<link_domain>/<token_for(position, found)>``."""
    pieces, position = [], 0
    for index, found in enumerate(find_urls(text, link_domain)):
        pieces += [text[position:found.span[0]], link_url(link_domain, token_for(index, found))]
        position = found.span[1]
    pieces.append(text[position:])
    return "".join(pieces)


def as_counted(text: str, link_domain: str | None) -> str:
    """``text`` as it is counted and priced: each URL at a tracked link's length (unchanged without a domain)."""
    if not link_domain:
        return text
    return replace(text, link_domain, lambda _index, _found: "x" * TOKEN_CHARS)


def tracked(text: str, link_domain: str) -> tuple[str, list[tuple[int, str, str]]]:
    """One recipient's copy with fresh tokens, and each link made: (position, token, destination)."""
    made: list[tuple[int, str, str]] = []

    def token_for(index: int, found: Found) -> str:
        token = new_token()
        made.append((index, token, found.destination))
        return token

    return replace(text, link_domain, token_for), made
