"""The texts a campaign really sends: its placeholders filled with the values they take in the
audience. Pure rules, no I/O; the service feeds them the audience's (first_name, attributes) rows.

A reviewer approves what recipients will read, so every value a placeholder renders is reviewed
one of two ways:

- **by value** — a placeholder with at most REVIEWABLE_VALUES distinct values in the audience: each
  value is rendered into the body, the rendered text goes through every content check, and the
  reviewer sees it. The approval binds to exactly those values.
- **by rule** — a placeholder with more values (a first name, a unique coupon code): a reviewer
  cannot read them all, so every value must be *plain* — letters, at most PLAIN_DIGITS digits,
  spaces, hyphens, apostrophes and full stops not followed by a letter, at most PLAIN_LENGTH
  characters: nothing that can form a link, an email address or a phone number. The longest value
  is rendered and checked (length and cost), a few are shown, and the approval binds to the rule.
  A value that is not plain blocks the review until the data is fixed.

At send time each recipient's values are held against what the approval bound (``allows``): a value
added or changed since then that is not among the reviewed values, or not plain, is not sent — that
recipient's message is skipped with the reason (a compliance-minded sender would rather lose one
text than send one nobody read; the rest of the campaign goes on). A missing or blank value renders
the placeholder's fallback, which is part of the reviewed body, and is always allowed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.campaigns import content, template

REVIEWABLE_VALUES = 20  # distinct values of one placeholder a reviewer reads one by one
PLAIN_LENGTH = 40
PLAIN_DIGITS = 6  # a phone number has more
TRACKED_VALUES = 100_000  # distinct values counted exactly; beyond, "more than"
SHOWN_EXAMPLES = 5

_NOT_A_DIGIT = r"(?:[^\W\d_]|[ '\-’]|\.(?![^\W_]))"
_PLAIN = re.compile(rf"(?:{_NOT_A_DIGIT}*\d){{0,{PLAIN_DIGITS}}}{_NOT_A_DIGIT}*")


def is_plain(value: str) -> bool:
    """A value that cannot carry a link, an address or a phone number (see the module docstring)."""
    return len(value) <= PLAIN_LENGTH and _PLAIN.fullmatch(value) is not None


def value_of(placeholder: template.Placeholder, first_name: str | None, attributes: Mapping[str, Any]) -> str:
    """What ``placeholder`` takes for one subscriber, as rendered; "" when it falls back."""
    return reviewed_form(template.value_for(placeholder, first_name, attributes))


def reviewed_form(value: str | None) -> str:
    """A rendered value as it is reviewed and bound: "" for a missing or blank one (the fallback)."""
    return "" if value is None or not value.strip() else value


@dataclass
class Tally:
    """The values one placeholder takes across the audience."""

    name: str
    counts: Counter[str] = field(default_factory=Counter)  # value -> recipients ("" = fallback)
    overflow: bool = False  # more than TRACKED_VALUES distinct values
    not_plain: Counter[str] = field(default_factory=Counter)

    def add(self, value: str, recipients: int = 1) -> None:
        fresh = value not in self.counts
        if not fresh or len(self.counts) < TRACKED_VALUES:
            self.counts[value] += recipients
        else:
            self.overflow = True
        if value and (value in self.not_plain or (fresh and len(self.not_plain) < TRACKED_VALUES
                                                  and not is_plain(value))):
            self.not_plain[value] += recipients

    @property
    def values(self) -> list[str]:
        return sorted(value for value in self.counts if value)

    @property
    def by_value(self) -> bool:
        return not self.overflow and len(self.values) <= REVIEWABLE_VALUES

    @property
    def distinct(self) -> str:
        return f"more than {TRACKED_VALUES:,}" if self.overflow else f"{len(self.values):,}"

    @property
    def longest(self) -> str:
        """The longest value (of the plain ones, when reviewed by rule: the others block on their own)."""
        values = self.values if self.by_value else [value for value in self.values if value not in self.not_plain]
        return max(values, key=len, default="")


def placeholders_of(body: str) -> list[template.Placeholder]:
    """The known placeholders of ``body``, one per name."""
    seen: dict[str, template.Placeholder] = {}
    for placeholder in template.placeholders(body):
        if placeholder.is_known:
            seen.setdefault(placeholder.name, placeholder)
    return list(seen.values())


def tally(body: str, rows: Iterable[tuple[str | None, Mapping[str, Any] | None]],
          tallies: dict[str, Tally] | None = None) -> dict[str, Tally]:
    """The values each placeholder of ``body`` takes over ``rows`` of (first_name, attributes),
    added to ``tallies`` when given (the audience is read in partitions)."""
    found = placeholders_of(body)
    tallies = tallies if tallies is not None else {p.name: Tally(p.name) for p in found}
    for first_name, attributes in rows:
        for placeholder in found:
            tallies[placeholder.name].add(value_of(placeholder, first_name, attributes or {}))
    return tallies


def reviewed(tallies: Mapping[str, Tally]) -> dict[str, dict]:
    """What an approval binds for each placeholder: ``{"values": [...]}`` or ``{"rule": "plain"}``."""
    return {name: {"values": t.values} if t.by_value else {"rule": "plain"} for name, t in sorted(tallies.items())}


def allows(bound: Mapping[str, dict] | None, placeholder: template.Placeholder, value: str) -> bool:
    """Whether ``value`` of ``placeholder`` is covered by the approval's ``bound`` values."""
    if not value:
        return True  # the fallback: part of the reviewed body
    entry = (bound or {}).get(placeholder.name)
    if entry is None:
        return False
    if "values" in entry:
        return value in entry["values"]
    return entry.get("rule") == "plain" and is_plain(value)


def unreviewed(bound: Mapping[str, dict] | None, placeholders: Iterable[template.Placeholder],
               first_name: str | None, attributes: Mapping[str, Any]) -> str | None:
    """The first placeholder whose value for this subscriber the approval does not cover, or None."""
    for placeholder in placeholders:
        if not allows(bound, placeholder, value_of(placeholder, first_name, attributes)):
            return placeholder.name
    return None


@dataclass(frozen=True)
class Variant:
    """One text as recipients will read it: which value it shows, and for how many of them."""

    placeholder: str | None  # None: the longest value of every placeholder at once
    value: str | None
    recipients: int | None
    text: str


def variants(full_body: str, tallies: Mapping[str, Tally]) -> list[Variant]:
    """The rendered texts a reviewer sees and the checks run on: each reviewed-by-value value in
    turn (the other placeholders at their longest values), then every placeholder at its longest
    value (the worst case for length and cost)."""
    longest = {name: t.longest for name, t in tallies.items()}

    def render(overrides: Mapping[str, str]) -> str:
        values = {**longest, **overrides}
        return template.substitute(full_body, lambda p: values.get(p.name))

    out: list[Variant] = []
    for name, t in sorted(tallies.items()):
        if not t.by_value:
            continue
        for value in t.values:
            out.append(Variant(name, value, t.counts[value], render({name: value})))
    out.append(Variant(None, None, None, render({})))
    return out


def examples(values: Iterable[str]) -> str:
    """A few values, quoted and shortened, for a message to a person."""
    shown = [repr(v if len(v) <= 60 else v[:57] + "...") for v in list(values)[:SHOWN_EXAMPLES]]
    return ", ".join(shown)


#: The checks whose findings depend on the words a value brings into the text.
VARIANT_CHECKS = frozenset({"url_shortener", "shaft_term", "oops_personal", "personal_contact", "encoding_ucs2",
                            "segments_over_3"})


def findings(full_body: str, tallies: Mapping[str, Tally], rendered: list[Variant],
             template_findings: list[content.Finding], ctx: content.ContentContext) -> list[content.Finding]:
    """Each rendered text through the content checks; a finding the body alone does not explain is
    reported with the value that causes it (``template_findings``: the body's own). Values that
    cannot be reviewed by rule block."""
    found: list[content.Finding] = []
    for name, t in sorted(tallies.items()):
        if not t.by_value and t.not_plain:
            found.append(content.Finding(
                "placeholder_values_not_plain", "block",
                f"{{{name}}} takes {t.distinct} distinct values, too many to review one by one, so each must be "
                f"plain (letters, at most {PLAIN_DIGITS} digits, spaces, hyphens, apostrophes, at most "
                f"{PLAIN_LENGTH} characters: nothing that makes a link, an address or a phone number); "
                f"{len(t.not_plain):,} are not, for {sum(t.not_plain.values()):,} recipients, e.g. "
                f"{examples(t.not_plain)}. Fix those values, or use fewer distinct values."))
    said = {(f.code, f.message) for f in template_findings}
    seen: set[tuple[str, str]] = set()
    for variant in rendered:
        for finding in content.check_content(variant.text, ctx):
            if finding.code not in VARIANT_CHECKS:
                continue
            cause = variant.text[finding.span[0]:finding.span[1]] if finding.span else ""
            if (cause and cause in full_body) or (not cause and (finding.code, finding.message) in said):
                continue  # the body itself says it; reported on the body
            if (finding.code, cause or variant.text) in seen:
                continue
            seen.add((finding.code, cause or variant.text))
            where = (f"with {{{variant.placeholder}}} = {examples([variant.value])} "
                     f"({variant.recipients:,} recipient{'s' if variant.recipients != 1 else ''})"
                     if variant.placeholder else "with every placeholder at its longest value")
            found.append(content.Finding(finding.code, finding.severity,
                                         f"{where[0].upper()}{where[1:]}: {finding.message}"))
    return found
