"""How an SMS body is encoded and how many segments it is billed as.

A text that uses only the GSM-7 alphabet travels in 7-bit septets: 160 fit in one message.
Any other character switches the whole message to UCS-2, where 70 UTF-16 code units fit.
Longer messages are split into parts that each carry a header, so a part holds 153 septets
or 67 UCS-2 units. Every part is billed as one message, so a single curly quote can double
the cost of a campaign.

Two details carriers get right and so must we:

- GSM extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are an escape septet plus
  the character, so they cost two septets, and the pair is never split across parts.
- Characters outside the Basic Multilingual Plane (most emoji) are a surrogate pair in UTF-16,
  so they cost two units, and the pair is never split across parts either.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 basic character set (the escape code 0x1B itself is not a character of text).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs an escape septet plus itself.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}
MULTIPART_SEGMENT = {"GSM-7": 153, "UCS-2": 67}

# Characters that word processors and phones slip into copy, with the GSM-7 text that reads
# the same. An empty replacement means the character is invisible and can simply go.
GSM_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark / apostrophe
    "\u201a": "'",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u2032": "'",  # ′ prime
    "\u00b4": "'",  # ´ acute accent
    "`": "'",  # ` grave accent (not in GSM-7)
    "\u201c": '"',  # “ left double quotation mark
    "\u201d": '"',  # ” right double quotation mark
    "\u201e": '"',  # „ double low-9 quotation mark
    "\u2033": '"',  # ″ double prime
    "\u00ab": '"',  # « left-pointing double angle quotation mark
    "\u00bb": '"',  # » right-pointing double angle quotation mark
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2012": "-",  # ‒ figure dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2026": "...",  # … horizontal ellipsis
    "\u00a0": " ",  # non-breaking space
    "\u202f": " ",  # narrow non-breaking space
    "\u2009": " ",  # thin space
    "\u2007": " ",  # figure space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero-width no-break space (byte order mark)
    "\u00ad": "",  # soft hyphen
    "\u2022": "-",  # • bullet
    "\u00d7": "x",  # × multiplication sign
}


@dataclass(frozen=True)
class SegmentInfo:
    """The encoding of a body and what it costs.

    ``units`` are septets for GSM-7 and UTF-16 code units for UCS-2. ``ucs2_chars`` lists every
    character (with its index in the body) that forced UCS-2; ``extension_chars`` lists the
    GSM-7 extension characters that cost two septets (empty when the body is UCS-2, where they
    cost no more than any other character). An empty body is 0 segments: there is nothing to send.
    """

    encoding: Encoding
    units: int
    segments: int
    ucs2_chars: list[tuple[str, int]] = field(default_factory=list)
    extension_chars: list[tuple[str, int]] = field(default_factory=list)

    @property
    def per_segment(self) -> int:
        """How many units fit in each segment of this message."""
        table = SINGLE_SEGMENT if self.segments <= 1 else MULTIPART_SEGMENT
        return table[self.encoding]


def is_gsm7(char: str) -> bool:
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def _widths(body: str, encoding: Encoding) -> list[int]:
    """The cost of each character in units; a two-unit character is never split."""
    if encoding == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in body]
    return [2 if ord(char) > 0xFFFF else 1 for char in body]


def _count_segments(widths: list[int], encoding: Encoding) -> int:
    total = sum(widths)
    if total == 0:
        return 0
    if total <= SINGLE_SEGMENT[encoding]:
        return 1
    capacity = MULTIPART_SEGMENT[encoding]
    segments, used = 1, 0
    for width in widths:
        if used + width > capacity:  # the pair moves whole into the next part
            segments, used = segments + 1, 0
        used += width
    return segments


def segment_info(body: str) -> SegmentInfo:
    """Encoding, units and segment count of ``body`` exactly as it will be sent."""
    ucs2_chars = [(char, index) for index, char in enumerate(body) if not is_gsm7(char)]
    encoding: Encoding = "UCS-2" if ucs2_chars else "GSM-7"
    widths = _widths(body, encoding)
    extension_chars = (
        [(char, index) for index, char in enumerate(body) if char in GSM7_EXTENSION]
        if encoding == "GSM-7"
        else []
    )
    return SegmentInfo(
        encoding=encoding,
        units=sum(widths),
        segments=_count_segments(widths, encoding),
        ucs2_chars=ucs2_chars,
        extension_chars=extension_chars,
    )


@functools.lru_cache(maxsize=1024)
def billed_segments(body: str) -> int:
    """How many parts ``body`` is billed as; cached, since most of a campaign's texts are the same."""
    return segment_info(body).segments


@dataclass(frozen=True)
class Replacement:
    """A character that forces UCS-2 and the GSM-7 text that could take its place."""

    char: str
    index: int
    replacement: str


def suggest_replacements(body: str) -> list[Replacement]:
    """Every character in ``body`` that forces UCS-2 and has a GSM-7 look-alike."""
    return [
        Replacement(char, index, GSM_REPLACEMENTS[char])
        for index, char in enumerate(body)
        if char in GSM_REPLACEMENTS
    ]


def to_gsm7(body: str, *, drop_others: bool = False) -> str:
    """``body`` with the common offenders replaced by their GSM-7 look-alikes.

    Characters with no look-alike (emoji, most accented letters) stay unless ``drop_others``,
    which removes them: useful to price "the same message without the emoji".
    """
    out = []
    for char in body:
        if char in GSM_REPLACEMENTS:
            out.append(GSM_REPLACEMENTS[char])
        elif is_gsm7(char) or not drop_others:
            out.append(char)
    return "".join(out)
