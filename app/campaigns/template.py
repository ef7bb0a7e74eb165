"""Placeholders in a campaign body and how each recipient's copy is rendered.

Syntax:

- ``{first_name}`` — the subscriber's first name.
- ``{attributes.city}`` — any column imported with the subscriber (``attributes`` is flat).
- ``{first_name|there}`` — with a fallback, used when the value is missing or blank.
- ``{{`` and ``}}`` — a literal ``{`` or ``}``.

Anything else between braces (``{First Name}``, ``{phone}``, ``{}``) is an unknown placeholder.
Rendering leaves it in the text verbatim, so a preview shows exactly what would go out, and the
content review blocks the campaign until it is fixed. A lone ``{`` or ``}`` is plain text.

A missing value with no fallback renders as nothing, and the spacing around it is tidied so
"Hi {first_name}, welcome" becomes "Hi, welcome" rather than "Hi , welcome".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

KNOWN_NAMES = frozenset({"first_name"})
ATTRIBUTE_PREFIX = "attributes."

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_ATTRIBUTE_NAME = re.compile(r"attributes\.[\w-]+")


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str | None
    span: tuple[int, int]

    @property
    def is_known(self) -> bool:
        return self.name in KNOWN_NAMES or _ATTRIBUTE_NAME.fullmatch(self.name) is not None

    @property
    def attribute(self) -> str | None:
        """The attribute key for ``{attributes.<key>}``, else None."""
        return self.name.removeprefix(ATTRIBUTE_PREFIX) if self.name.startswith(ATTRIBUTE_PREFIX) else None


def _parse(content: str, span: tuple[int, int]) -> Placeholder:
    name, bar, fallback = content.partition("|")
    return Placeholder(name=name.strip(), fallback=fallback.strip() if bar else None, span=span)


def placeholders(body: str) -> list[Placeholder]:
    """Every placeholder in ``body``, in order; escaped braces are not placeholders."""
    return [
        _parse(match.group(1), match.span())
        for match in _TOKEN.finditer(body)
        if match.group(1) is not None
    ]


def unknown_placeholders(body: str) -> list[Placeholder]:
    """Placeholders that would be sent literally: not ``first_name`` nor ``attributes.<key>``."""
    return [placeholder for placeholder in placeholders(body) if not placeholder.is_known]


def suggest_name(name: str) -> str | None:
    """A known name the author probably meant, e.g. ``First Name`` -> ``first_name``."""
    normal = re.sub(r"[\s\-]+", "_", name.strip()).lower()
    if normal in KNOWN_NAMES:
        return normal
    for prefix in ("attributes_", "attribute.", "attribute_", "attrs.", "attr."):
        if normal.startswith(prefix) and len(normal) > len(prefix):
            return ATTRIBUTE_PREFIX + normal[len(prefix):]
    return None


def substitute(body: str, value_for: Callable[[Placeholder], str | None]) -> str:
    """Replace each known placeholder with ``value_for(placeholder)``.

    A value that is None or blank falls back to the placeholder's fallback, and then to nothing,
    with the surrounding spacing tidied. Unknown placeholders stay verbatim; ``{{``/``}}`` unescape.
    """
    pieces: list[str | None] = []  # text, or None where a value came out empty
    position = 0
    for match in _TOKEN.finditer(body):
        pieces.append(body[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            pieces.append(token[0])
            continue
        placeholder = _parse(match.group(1), match.span())
        if not placeholder.is_known:
            pieces.append(token)
            continue
        value = value_for(placeholder)
        if value is None or not value.strip():
            value = placeholder.fallback or ""
        pieces.append(value or None)
    pieces.append(body[position:])
    if None not in pieces:
        return "".join(pieces)  # type: ignore[arg-type]
    # A private-use character (one in neither the body nor a value) marks where a value came out
    # empty, so tidying touches only the spacing next to it and never the author's own formatting.
    used = set().union(*(piece for piece in pieces if piece))
    marker = next(chr(code) for code in range(0xE000, 0xF900) if chr(code) not in used)
    return _tidy("".join(marker if piece is None else piece for piece in pieces), marker)


def _tidy(text: str, marker: str) -> str:
    """Linear in the text: each whitespace pattern may start only where a run of blanks starts (the
    look-behind), so a long run is scanned once, never once per blank in it."""
    m = re.escape(marker)
    text = re.sub(rf"{m}(?:[ \t]*{m})+", marker, text)  # neighbouring empties act as one
    text = re.sub(rf"(?<![ \t])[ \t]+{m}(?=[,.!?;:)])", "", text)  # "Hi {x}, there" -> "Hi, there"
    text = re.sub(rf"(?m)^{m}[,;:]?[ \t]*", "", text)  # "{x}, your order" -> "your order"
    text = re.sub(rf"(?<![ \t])[ \t]*{m}(?=\n|$)", "", text)  # "Thanks {x}" -> "Thanks"
    text = re.sub(rf"(?<![ \t])[ \t]+{m}[ \t]+", " ", text)  # "Hi {x} there" -> "Hi there"
    return text.replace(marker, "")


def as_text(value: Any) -> str | None:
    """A stored value (an attribute is text, a number or a boolean) as a placeholder renders it."""
    return None if value is None else str(value)


def value_for(placeholder: Placeholder, first_name: str | None, attributes: Mapping[str, Any]) -> str | None:
    """The subscriber's value for a known ``placeholder``, as text, or None when they have none."""
    if placeholder.name == "first_name":
        return first_name
    return as_text(attributes.get(placeholder.attribute or ""))


def render(body: str, *, first_name: str | None, attributes: Mapping[str, Any]) -> str:
    """One recipient's copy of ``body``."""
    return substitute(body, lambda placeholder: value_for(placeholder, first_name, attributes))
