"""The personal-text detector: does this message read like one person texting another, or like a
company texting its customers?

A small linear model, pure Python, no I/O after the weights are loaded once. A message becomes a
set of binary features:

- words and word pairs (lower-cased; digits folded, so "$19" and "$49" are one feature);
- character 2- to 4-grams inside each word, so "wat", "tmr", "2nite" or a typo still carry weight;
- structure: a link, a placeholder, a price or percentage, a promo code, a short code, a "Brand:"
  prefix, the brand named or not, shouting, length, and "none of the signs of a campaign at all".

Each feature has a weight learned by ``data/oops/train.py`` from the project's own data
(``data/oops/README.md``); the weights ship beside this module in ``oops_model.json``. The score is
the bias plus the weights of the features present; a message is personal when the score reaches the
model's threshold. Every word's share of the score is kept, so a finding names the words and the
structure that weighed most.

The brand name, links, e-mail addresses, phone numbers and placeholders are replaced by a marker
before any word is read, so "XO Cafe" or "acme.com/lol-babe" never count as personal words.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

MODEL_PATH = Path(__file__).with_name("oops_model.json")
REPLY_MODEL_PATH = Path(__file__).with_name("oops_reply_model.json")
MODEL_PATHS = {"campaign": MODEL_PATH, "reply": REPLY_MODEL_PATH}
READ_LIMIT = 1000  # characters read: over six segments, more than any text; bounds the time per message

# Straight quotes for curly ones, one character for one, so spans stay valid.
QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def brand_pattern(brand: str) -> str:
    """A regular expression for ``brand`` as a whole name: any run of spaces, an optional apostrophe."""
    parts = [r"'?" if char == "'" else r"\s+" if char.isspace() else re.escape(char) for char in brand.strip()]
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)"


# --- reading a message --------------------------------------------------------------------------

# Things that are not words: each becomes one marker token, never read letter by letter. Each
# pattern runs only when the character it needs is in the text.
_SPECIALS = (
    ("placeholder", "{", re.compile(r"\{[^{}]{1,80}\}")),
    ("email", "@", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("link", ".", re.compile(
        r"(?:https?://|www\.)\S+|(?<![\w@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*"
        r"\.(?:com|org|net|io|co|uk|us|edu|shop|app|ly|me|info|biz|store)\b(?:/\S*)?", re.IGNORECASE)),
    ("phone", "", re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,}\d(?!\w)")),
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]", re.UNICODE)
_DIGITS = re.compile(r"\d+")

_PRICE = re.compile(r"[$£€]\s?\d|\d\s?(?:%|p\b|/mo\b|/wk\b)|\b\d+\s?(?:percent|off)\b", re.IGNORECASE)
_CODE = re.compile(r"\b(?:code|coupon|promo)\s*:?\s*[A-Z0-9]{3,}\b", re.IGNORECASE)
_SHORT_CODE = re.compile(r"\b(?:text|txt|reply|send)\s+\w+\s+(?:to|2)\s+\d{4,6}\b", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*[A-Z0-9][\w&'.,!-]*(?:\s+[\w&'.!-]+){0,4}\s?:\s")
_SHOUT = re.compile(r"\b[A-Z]{3,}\b")
_TIME = re.compile(r"\b\d{1,2}(?::\d\d)?\s?(?:am|pm)\b", re.IGNORECASE)

# What each structural feature says when it counts in a finding.
STRUCTURE = {
    "s:none": "none of the signs of a campaign (no link, price, code, placeholder, opt-out or brand)",
    "s:opt_out": "opt-out language",
    "s:brand": "it names the brand",
    "s:prefix": "it opens like a sender's label (\"Name: …\")",
    "s:link": "a link",
    "s:placeholder": "a placeholder",
    "s:price": "a price or a discount",
    "s:code": "a promo code",
    "s:short_code": "a keyword to a short code",
    "s:shout": "words in capitals",
    "s:bang": "an exclamation",
    "s:bangs": "several exclamations",
    "s:question": "a question",
    "s:time": "a time of day",
    "s:email": "an e-mail address",
    "s:phone": "a phone number",
    "s:lower": "it starts in lower case",
    "s:bare_end": "no closing punctuation",
    "s:len0": "a very short message",
    "s:len1": "a short message",
    "s:len2": "a message of a sentence or two",
    "s:len3": "a long message",
}


class Token(NamedTuple):
    norm: str  # what the features are made of: lower-cased word, "<link>", "<brand>", …
    span: tuple[int, int]  # where it stands in the message


def tokens(body: str, brand_name: str = "", opt_out: bool = False) -> tuple[list[Token], set[str]]:
    """The message as tokens, and the structural features it has. ``opt_out``: the message tells
    how to stop with a keyword (the caller knows the opt-out rule; this module does not)."""
    text = body[:READ_LIMIT].translate(QUOTES)
    structure: set[str] = {"s:opt_out"} if opt_out else set()
    found_specials = sorted(
        (match.start(), -match.end(), kind)
        for kind, needs, pattern in _SPECIALS if needs in text
        for match in pattern.finditer(text)
    )
    marked: list[tuple[int, int, str]] = []  # spans replaced by a marker token, first and longest wins
    for start, negative_end, kind in found_specials:
        if not marked or start >= marked[-1][1]:
            marked.append((start, -negative_end, f"<{kind}>"))
            structure.add(f"s:{kind}")
    brand = brand_name.strip()
    if brand:  # the brand where it is not part of a link or an address ("acme.com" stays a link)
        specials = list(marked)
        for found in _brand_regex(brand).finditer(text):
            if not any(s < found.end() and found.start() < e for s, e, _ in specials):
                marked.append((found.start(), found.end(), "<brand>"))
                structure.add("s:brand")
    marked.sort()
    out: list[Token] = []
    position = 0
    for start, end, marker in [*marked, (len(text), len(text), "")]:
        for word in _WORD.finditer(text, position, start):
            norm = word.group(0).lower()
            if not norm.isalpha():
                norm = _DIGITS.sub(_fold_digits, norm)
            out.append(Token(norm, word.span()))
        if marker:
            out.append(Token(marker, (start, end)))
        position = end
    for name, pattern in (("s:price", _PRICE), ("s:code", _CODE), ("s:short_code", _SHORT_CODE),
                          ("s:prefix", _PREFIX), ("s:time", _TIME)):
        if pattern.search(text):
            structure.add(name)
    if len(_SHOUT.findall(text)) >= 1 and text != text.upper():
        structure.add("s:shout")
    bangs = text.count("!")
    if bangs:
        structure.add("s:bangs" if bangs >= 3 else "s:bang")
    if "?" in text:
        structure.add("s:question")
    stripped = text.strip()
    if stripped[:1].islower():
        structure.add("s:lower")
    if stripped and stripped[-1].isalnum():
        structure.add("s:bare_end")
    structure.add(f"s:len{sum(len(stripped) > limit for limit in (20, 60, 130))}")
    if not structure & {"s:opt_out", "s:brand", "s:prefix", "s:link", "s:placeholder", "s:price", "s:code", "s:short_code"}:
        structure.add("s:none")
    return out, structure


@lru_cache(maxsize=256)
def _brand_regex(brand: str) -> re.Pattern[str]:
    return re.compile(brand_pattern(brand), re.IGNORECASE)


def _fold_digits(match: re.Match[str]) -> str:
    return "0" if len(match.group(0)) <= 2 else "00"


def features(body: str, brand_name: str = "", opt_out: bool = False) -> dict[str, int]:
    """Every feature of the message, each with the index of the token it belongs to (-1: the
    whole message). A feature that occurs twice belongs to its first token."""
    return _features(*tokens(body, brand_name, opt_out))


def _features(toks: list[Token], structure: set[str]) -> dict[str, int]:
    found: dict[str, int] = dict.fromkeys(sorted(structure), -1)
    norms = [t.norm for t in toks]
    setdefault = found.setdefault
    for index, norm in enumerate(norms):
        setdefault("w:" + norm, index)
        for gram in _char_grams(norm):
            setdefault(gram, index)
    if norms:
        for index, (first, second) in enumerate(zip(["<s>", *norms], [*norms, "</s>"], strict=True)):
            found.setdefault(f"b:{first} {second}", min(index, len(norms) - 1))
    return found


@lru_cache(maxsize=65536)
def _char_grams(norm: str) -> tuple[str, ...]:
    """The character 2- to 4-grams of a word, with a space before and after it ("c: w", "c:wa", …)."""
    if not norm[0].isalnum() or len(norm) < 2:
        return ()
    padded = f" {norm} "
    return tuple(dict.fromkeys("c:" + padded[i:i + n] for n in (2, 3, 4) for i in range(len(padded) - n + 1)))


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    bias: float
    threshold: float  # personal when bias + weights >= threshold
    weights: dict[str, float]


@cache
def model(kind: str = "campaign") -> Model:
    """The shipped weights: ``campaign`` for a message to a list, ``reply`` for one answer to one
    customer in the company inbox (plain short answers there must not read as personal)."""
    data = json.loads(MODEL_PATHS[kind].read_text(encoding="utf-8"))
    return Model(data["bias"], data["threshold"], data["weights"])


@dataclass(frozen=True)
class OopsCue:
    """One word's share of the score (positive: it reads personal)."""

    text: str
    kind: str
    weight: float
    span: tuple[int, int]


@dataclass(frozen=True)
class Assessment:
    cues: list[OopsCue]  # every token with a share of the score, in reading order
    structure: list[tuple[str, float]]  # structural features present, with their weights
    score: float  # bias + every weight, less the threshold: personal when >= 0

    @property
    def personal(self) -> bool:
        """Personal when the score says so and something in the message says why: a message made
        only of structure (a brand, a placeholder, opt-out language) gives the model nothing to
        read, and a finding that cannot name what weighed would not help a reviewer. (Placeholder
        values are judged where they are rendered: app/campaigns/variants.py.)"""
        return self.score >= 0 and bool(explain(self, 1)[0] or explain(self, 1)[1])

    threshold: float = 0.0  # the model's, so the probability can be told

    @property
    def probability(self) -> float:
        return 1 / (1 + math.exp(-(self.score + self.threshold)))


def _kind(norm: str) -> str:
    if norm.startswith("<"):
        return norm.strip("<>")
    return "word" if norm[0].isalnum() else "symbol"


def assess(body: str, brand_name: str = "", opt_out: bool = False, m: Model | None = None, *,
           reply: bool = False) -> Assessment:
    """The detector's reading of ``body`` sent by ``brand_name`` (empty: the brand is unknown);
    ``opt_out``: whether the body carries opt-out language; ``reply``: one answer to one customer
    in the inbox rather than a message to a list."""
    m = m or model("reply" if reply else "campaign")
    toks, shape = tokens(body, brand_name, opt_out)
    per_token = [0.0] * len(toks)
    structure: list[tuple[str, float]] = []
    for feature, index in _features(toks, shape).items():
        weight = m.weights.get(feature)
        if weight is None:
            continue
        if index < 0:
            structure.append((feature, weight))
        else:
            per_token[index] += weight
    cues = [
        OopsCue(body[t.span[0]:t.span[1]], _kind(t.norm), round(w, 4), t.span)
        for t, w in zip(toks, per_token, strict=True)
        if w
    ]
    total = m.bias - m.threshold + sum(per_token) + sum(w for _, w in structure)
    return Assessment(cues, structure, total, m.threshold)


def explain(assessment: Assessment, most: int = 5) -> tuple[list[OopsCue], list[str]]:
    """The words (and emoji) and the structural features (their names, see ``STRUCTURE``) that
    pushed hardest towards "personal", strongest first."""
    words = sorted((c for c in assessment.cues if c.weight >= 0.05 and not (c.kind == "symbol" and c.text.isascii())),
                   key=lambda c: -c.weight)[:most]  # plain punctuation counts in the score, but explains nothing
    shapes = [name for name, w in sorted(assessment.structure, key=lambda s: -s[1]) if w > 0.25][:3]
    return words, shapes
