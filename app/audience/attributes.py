"""What a subscriber's first name and attributes may hold: they are rendered into campaign texts
(``{first_name}``, ``{attributes.<key>}``), so they are short single-line text, nothing a reviewer
could not see on a screen. Pure rules, no I/O: the API schema and the import apply the same ones.

- at most MAX_ATTRIBUTES attributes; keys at most MAX_KEY characters;
- each value text, a number or a boolean (no objects or lists), at most MAX_VALUE characters;
- no control characters (newlines and tabs included), no invisible formatting characters (bidi
  overrides, zero-width spaces; the zero-width joiner of emoji sequences is allowed), no
  private-use or surrogate code points, no line or paragraph separators.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_ATTRIBUTES = 50
MAX_KEY = 64
MAX_VALUE = 200  # characters; a value this long is already more than a segment on its own

_ALLOWED_FORMAT = {"\u200d"}  # the zero-width joiner inside emoji sequences
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def unrenderable(text: str) -> str | None:
    """The first character of ``text`` that must not reach a message, described, or None."""
    for index, char in enumerate(text):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES and char not in _ALLOWED_FORMAT:
            return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()}) at position {index + 1}"
    return None


def check_text(name: str, value: str, limit: int = MAX_VALUE) -> str:
    """``value`` if it may be rendered into a message; ValueError naming ``name`` otherwise."""
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    bad = unrenderable(value)
    if bad is not None:
        raise ValueError(f"{name} contains {bad}: values are single-line visible text")
    return value


def check_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` if every key and value is acceptable; ValueError naming the first bad one."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"attributes has {len(attributes)} keys; at most {MAX_ATTRIBUTES}")
    for key, value in attributes.items():
        check_text(f"attribute name {key[:40]!r}", key, MAX_KEY)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            check_text(f"attributes.{key}", str(value))
        elif isinstance(value, str):
            check_text(f"attributes.{key}", value)
        else:
            raise ValueError(f"attributes.{key} must be text, a number or a boolean, not {type(value).__name__}")
    return attributes
