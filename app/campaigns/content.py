"""The automated content review of a campaign: pure checks, each with a stable code.

``check_content`` returns findings for a reviewer. A ``block`` finding stops approval until the
campaign is changed; a ``warn`` is shown next to the rendered messages and the reviewer decides.
Each message says what was found, where, and why it matters, so the reviewer need not guess.

Spans index ``full_body(body, ctx)``, which starts with ``body`` itself, so a span inside the
body points at the same characters in both.

The "oops" detector (``oops_personal``, the model in ``oops.py``) asks whether the message reads
like one person texting another rather than a company texting its customers, so "We love our
customers" or "omg the sale is BACK" stay quiet and "Ok no prob" does not. It warns rather than
blocks: the words and the structure that weighed most are listed and the reviewer makes the call
in seconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

from app.campaigns import oops, segments, template
from app.campaigns.oops import QUOTES as _QUOTES
from app.campaigns.oops import OopsCue
from app.campaigns.oops import brand_pattern as _brand_pattern
from app.links import rewrite
from app.vocab.opt_out import DEFAULT_OPT_OUT_TEXT

Severity = Literal["block", "warn"]

PLACEHOLDER_ESTIMATE = 10  # characters a placeholder is counted as when pricing a message
MAX_SEGMENTS = 3
QUIET_HOURS_WARN_SHARE = 0.5


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class ContentContext:
    brand_name: str
    require_brand: bool = False
    append_opt_out: bool = False
    opt_out_text: str = DEFAULT_OPT_OUT_TEXT
    shaft_blocks: bool = False
    company_numbers: frozenset[str] = frozenset()  # E.164
    company_emails: frozenset[str] = frozenset()
    company_domains: frozenset[str] = frozenset()
    sender_verified: bool = False  # unknown means not verified
    sendable_counts: Mapping[str, int] = field(default_factory=dict)  # list name -> sendable
    quiet_hours_share: float | None = None
    default_region: str = "US"  # how numbers without a country code in the body are read
    link_domain: str | None = None  # FINELINE_LINK_DOMAIN: URLs are sent (and so counted) as tracked links


def _find(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text.translate(_QUOTES), re.IGNORECASE)


# --- opt-out ------------------------------------------------------------------------------------

_OPT_OUT = "|".join([
    # Reply STOP / Txt STOP to end / text back STOP / reply with "STOP"
    r"\b(?:reply|replying|respond|text|txt|texting|send|msg|message|sms)(?:\s+(?:with|back))?[\s:]*[\"']?stop(?:all)?\b",
    # STOP to unsubscribe / STOP2END / STOP=cancel
    r"\bstop(?:all)?[\"']?\s*(?:to|2|=|-|:|for)\s*(?:opt[\s-]?out|optout|unsubscribe|unsub|end|cancel|quit|stop|leave)\b",
    # Opt out: STOP / Unsubscribe - STOP / to stop receiving texts, STOP
    r"\b(?:opt[\s-]?out|unsubscribe|unsub|to\s+stop(?:\s+receiving)?(?:\s+(?:texts|messages|msgs|alerts))?)\s*(?:[:=\-,]\s*)?[\"']?stop\b",
    # Reply END / Text UNSUBSCRIBE — other carrier keywords count when written as keywords
    r"\b(?:reply|text|txt|send)\s+(?-i:UNSUBSCRIBE|CANCEL|END|QUIT|STOPALL|OPTOUT)\b",
])


def has_opt_out(text: str) -> bool:
    """True when ``text`` tells the recipient how to stop with a keyword (STOP and friends)."""
    return _find(_OPT_OUT, text) is not None


def full_body(body: str, ctx: ContentContext) -> str:
    """The message as sent: the body, plus the opt-out text when the setting asks for it and the
    body does not already carry an opt-out instruction."""
    if not ctx.append_opt_out or not ctx.opt_out_text.strip() or has_opt_out(body):
        return body
    separator = "" if not body or body[-1].isspace() else "\n"
    return body + separator + ctx.opt_out_text


# --- public link shorteners ---------------------------------------------------------------------

SHORTENERS = (
    "bit.ly", "bitly.is", "j.mp", "tinyurl.com", "tiny.one", "t.co", "goo.gl", "ow.ly", "is.gd",
    "rebrand.ly", "cutt.ly", "t.ly", "rb.gy", "tiny.cc", "buff.ly", "shorturl.at", "s.id", "v.gd",
    "lnkd.in", "tr.im", "x.co", "bl.ink", "short.gy", "shorte.st", "adf.ly", "t2m.io", "soo.gd",
    "clck.ru", "qr.ae", "po.st", "su.pr", "u.to", "dub.sh", "kutt.it", "tny.im", "shrtco.de",
    "trib.al", "snip.ly", "bit.do", "mcaf.ee",
)
_SHORTENER = re.compile(
    r"(?<![\w@.-])(?:https?://)?(?:[\w-]+\.)*(" + "|".join(map(re.escape, SHORTENERS)) + r")(?![\w-])(?!\.\w)",
    re.IGNORECASE,
)

# --- SHAFT and other carrier-restricted content -------------------------------------------------

# Whole words only, so "Essex", "Sussex" and "whatever" never match. "hate" alone is left out on
# purpose: "we hate to see you go" is ordinary copy; hate content is named by its groups.
SHAFT_TERMS: dict[str, list[str]] = {
    "sexual": [r"sex", r"sexy", r"sexual", r"porn\w*", r"xxx", r"nudes?", r"naked", r"erotic\w*",
               r"onlyfans", r"hook-?ups?", r"escort services?", r"strip clubs?", r"nsfw",
               r"adult (?:content|entertainment|videos?)"],
    "hate": [r"white power", r"white supremac\w*", r"(?:neo-?)?nazis?", r"kkk", r"heil hitler",
             r"race war", r"ethnic cleansing", r"hate (?:speech|groups?)"],
    "alcohol": [r"alcohol\w*", r"(?<!root )beers?", r"wines?", r"vodka", r"whiske?y", r"tequila",
                r"bourbon", r"rum", r"gin", r"liquor", r"booze", r"cocktails?", r"happy hour",
                r"margaritas?", r"mimosas?", r"sangria", r"champagne", r"prosecco", r"brewer(?:y|ies)",
                r"taproom", r"open bar", r"hard seltzers?"],
    "firearms": [r"(?<!glue )(?<!nail )(?<!heat )(?<!water )(?<!nerf )(?<!massage )(?<!spray )"
                 r"(?<!staple )(?<!caulk )(?<!bubble )(?<!foam )guns?", r"firearms?", r"handguns?",
                 r"rifles?", r"shotguns?", r"pistols?", r"ammo", r"ammunition", r"ar-?15s?",
                 r"concealed carry", r"shooting range", r"suppressors?"],
    "tobacco or vaping": [r"tobacco", r"cigarettes?", r"cigars?", r"cigarillos?", r"smoke shops?",
                          r"hookahs?", r"shisha", r"nicotine", r"snus", r"e-?cigs?", r"e-?cigarettes?",
                          r"vapes?", r"vaping", r"e-?liquids?", r"juul\w*"],
    "cannabis": [r"cannabis", r"marijuana", r"thc", r"cbd", r"dispensar(?:y|ies)", r"edibles",
                 r"pre-?rolls?", r"delta-?8", r"kush", r"weed (?:delivery|shop|store)"],
    "gambling": [r"casinos?", r"gambl\w*", r"sports ?betting", r"sportsbooks?", r"betting",
                 r"place (?:your|a) bets?", r"poker", r"blackjack", r"roulette", r"slot machines?",
                 r"free spins", r"lottery", r"lotto", r"wager\w*"],
    "high-risk lending": [r"payday loans?", r"cash advances?", r"title loans?", r"no credit check",
                          r"bad credit (?:ok|loans?)", r"guaranteed (?:approval|loans?)",
                          r"debt (?:relief|consolidation|forgiveness|settlement)", r"credit repair"],
}
_SHAFT = {
    category: re.compile(r"\b(?:" + "|".join(terms) + r")\b", re.IGNORECASE)
    for category, terms in SHAFT_TERMS.items()
}

# --- the checks ---------------------------------------------------------------------------------


def _describe(char: str) -> str:
    name = unicodedata.name(char, f"U+{ord(char):04X}").lower()
    return name if char.isspace() or unicodedata.category(char) in ("Cf", "Zs") else f"{char} ({name})"


def _check_encoding(text: str, sample: str, has_placeholders: bool) -> list[Finding]:
    findings = []
    info = segments.segment_info(text)
    priced = segments.segment_info(sample)
    estimate = f" (counting each placeholder as about {PLACEHOLDER_ESTIMATE} characters)" if has_placeholders else ""
    if info.ucs2_chars:
        gsm = segments.segment_info(segments.to_gsm7(sample, drop_others=True))
        shown = ", ".join(f"{_describe(char)} at position {index + 1}" for char, index in info.ucs2_chars[:5])
        more = f" and {len(info.ucs2_chars) - 5} more" if len(info.ucs2_chars) > 5 else ""
        baseline = max(gsm.segments, 1)
        if priced.segments > baseline:
            cost = (f"{priced.segments} segments instead of {baseline} per recipient, "
                    f"{priced.segments / baseline:g}× the cost{estimate}")
        else:
            cost = (f"still {priced.segments} segment{'s' if priced.segments != 1 else ''}, but each holds only "
                    f"{segments.SINGLE_SEGMENT['UCS-2']} characters instead of {segments.SINGLE_SEGMENT['GSM-7']}")
        fixes = dict.fromkeys(f"{_describe(r.char)} with {r.replacement!r}" for r in segments.suggest_replacements(text))
        fix = f" Replace {'; '.join(fixes)}." if fixes else ""
        if any(char not in segments.GSM_REPLACEMENTS for char, _ in info.ucs2_chars):
            fix += " The other characters have no GSM-7 equivalent: remove them to get the lower cost."
        first = info.ucs2_chars[0][1]
        findings.append(Finding(
            "encoding_ucs2", "warn",
            f"{shown}{more} force{'s' if len(info.ucs2_chars) == 1 else ''} UCS-2 (Unicode) encoding: {cost}.{fix}",
            (first, first + 1),
        ))
    if priced.segments > MAX_SEGMENTS:
        findings.append(Finding(
            "segments_over_3", "warn",
            f"The message is {priced.segments} segments per recipient ({priced.units} {priced.encoding} units, "
            f"{priced.per_segment} per segment){estimate}: each recipient costs {priced.segments}× a "
            f"single text. Shorten it to {MAX_SEGMENTS} segments or fewer.",
        ))
    return findings


def _check_brand(text: str, ctx: ContentContext) -> list[Finding]:
    severity: Severity = "block" if ctx.require_brand else "warn"
    brand = ctx.brand_name.strip()
    if not brand:
        return [Finding("brand_missing", severity,
                        "The company has no brand name set, so the message cannot be checked for one: "
                        "recipients must be able to tell who is texting them.")]
    if _find(_brand_pattern(brand), text):
        return []
    return [Finding("brand_missing", severity,
                    f"The message does not name the company ({brand!r}): recipients must be able to tell who "
                    f"is texting them, and carriers filter unbranded texts. Start it with \"{brand}:\".")]


def _check_shorteners(text: str) -> list[Finding]:
    return [
        Finding("url_shortener", "block",
                f"{match.group(0)!r} at position {match.start() + 1} uses the public link shortener "
                f"{match.group(1).lower()}: carriers filter texts with shared shorteners because spammers "
                "hide links behind them. Use the full link or a shortener on the company's own domain.",
                match.span())
        for match in _SHORTENER.finditer(text)
    ]


def _check_shaft(text: str, ctx: ContentContext) -> list[Finding]:
    findings = []
    for category, pattern in _SHAFT.items():
        matches = list(pattern.finditer(text))
        if not matches:
            continue
        words = ", ".join(dict.fromkeys(repr(m.group(0)) for m in matches))
        findings.append(Finding(
            "shaft_term", "block" if ctx.shaft_blocks else "warn",
            f"{words} (first at position {matches[0].start() + 1}) is {category} content: carriers filter "
            "it unless the sender is registered for it and recipients are age-gated.",
            matches[0].span(),
        ))
    return findings


def _check_placeholders(body: str) -> list[Finding]:
    findings = []
    for placeholder in template.unknown_placeholders(body):
        raw = body[placeholder.span[0]:placeholder.span[1]]
        guess = template.suggest_name(placeholder.name)
        hint = f" Did you mean {{{guess}}}?" if guess else " Use {first_name} or {attributes.<column>}."
        findings.append(Finding(
            "unknown_placeholder", "block",
            f"{raw} at position {placeholder.span[0] + 1} is not a placeholder Fineline knows, so it would "
            f"be sent literally.{hint}",
            placeholder.span,
        ))
    return findings


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")  # starts only where an address can


def _check_contacts(text: str, ctx: ContentContext) -> list[Finding]:
    findings = []
    matcher = phonenumbers.PhoneNumberMatcher(text, ctx.default_region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        if phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164) in ctx.company_numbers:
            continue
        findings.append(Finding(
            "personal_contact", "warn",
            f"{match.raw_string} at position {match.start + 1} is not one of the company's numbers: replies "
            "and calls would go to a person, not the company, and leave with them. Use a company number.",
            (match.start, match.end),
        ))
    domains = {d.lower().lstrip("@") for d in ctx.company_domains}
    emails = {e.lower() for e in ctx.company_emails}
    for match in _EMAIL.finditer(text):
        address = match.group(0).lower()
        domain = address.rpartition("@")[2]
        if address in emails or any(domain == d or domain.endswith("." + d) for d in domains):
            continue
        findings.append(Finding(
            "personal_contact", "warn",
            f"{match.group(0)} at position {match.start() + 1} is not a company address: replies would go to "
            "a person, not the company, and leave with them. Use a company email address.",
            match.span(),
        ))
    return findings


def oops_cues(body: str, brand_name: str = "") -> tuple[list[OopsCue], float]:
    """Each word's share of the personal-text score of ``body`` (positive: it reads personal), and
    the rest of the score: the structure (links, prices, placeholders, opt-out, the brand named or
    not) and the model's bias, less its threshold. ``looks_personal`` adds them up."""
    assessment = oops.assess(body, brand_name, has_opt_out(body))
    return assessment.cues, assessment.score - sum(cue.weight for cue in assessment.cues)


def looks_personal(cues: list[OopsCue], adjustment: float) -> bool:
    """The words' shares and the rest of the score reach the model's threshold."""
    return sum(cue.weight for cue in cues) + adjustment >= 0


def _check_oops(body: str, ctx: ContentContext, *, reply: bool = False) -> list[Finding]:
    """``reply``: ``body`` is one answer to one customer in the company inbox, read by the reply
    model (a campaign's "does this look like a campaign at all?" would flag "See you then.")."""
    assessment = oops.assess(body, ctx.brand_name, has_opt_out(body), reply=reply)
    if not assessment.personal:
        return []
    words, shapes = oops.explain(assessment)
    reasons = [f"{cue.text!r} (+{cue.weight:.1f})" for cue in words] + [oops.STRUCTURE[name] for name in shapes]
    return [Finding(
        "oops_personal", "warn",
        f"This reads like a personal text, not a campaign ({assessment.probability:.0%} personal). What "
        f"weighed most: {'; '.join(reasons)}. Check it was meant for customers before it goes to the "
        "whole list.",
        words[0].span if words else None,
    )]


_APPS = r"(?:whats\s?app|insta(?:gram)?|ig|snap(?:chat)?|telegram|signal|wechat|viber|kik|discord|tiktok|facebook|fb|messenger)"
_PRIVATE_CHANNEL = re.compile(
    r"\bmy\s+(?:own\s+|personal\s+|private\s+)?(?:cell(?:\s*phone)?|mobile|personal\s+(?:number|phone|email)|" + _APPS + r")\b"
    r"|\b(?:text|call|message|msg|reach|ping|dm|add|find|follow|hit)\s+me\s+(?:up\s+)?(?:on|at|via)\s+(?:my\s+)?"
    r"(?:cell|mobile|personal|private|" + _APPS + r")\b"
    r"|\b" + _APPS + r"\s+me\b|\bdm\s+me\b",
    re.IGNORECASE,
)
# "@ana.b" but not the middle of an email address, nor a company handle listed in company_contacts.
_HANDLE = re.compile(r"(?<![\w.@+-])@[A-Za-z0-9_][A-Za-z0-9_.]{1,29}(?![\w@])")


def _check_private_channels(text: str, ctx: ContentContext) -> list[Finding]:
    findings = [
        Finding("personal_channel", "warn",
                f"{match.group(0)!r} at position {match.start() + 1} points the customer to a personal phone or "
                "app: the conversation would leave the company's number and leave with the employee. Keep it here.",
                match.span())
        for match in _PRIVATE_CHANNEL.finditer(text.translate(_QUOTES))
    ]
    for match in _HANDLE.finditer(text):
        handle = match.group(0).rstrip(".").lower()
        if handle in ctx.company_emails:
            continue
        findings.append(Finding(
            "personal_channel", "warn",
            f"{handle} at position {match.start() + 1} looks like a personal social-media handle, not one of the "
            "company's: the customer would follow a person, not the company.", match.span()))
    return findings


def personal_findings(body: str, ctx: ContentContext) -> list[Finding]:
    """What makes a reply in the company inbox look personal: a private number or address, a personal
    app or handle ("text me on my cell", WhatsApp, Instagram), or the oops detector. Such a reply waits
    for a second person before it leaves."""
    return _check_oops(body, ctx, reply=True) + _check_contacts(body, ctx) + _check_private_channels(body, ctx)


def check_content(body: str, ctx: ContentContext) -> list[Finding]:
    """Every finding for ``body`` under ``ctx``, in a stable order."""
    text = full_body(body, ctx)
    sample = template.substitute(text, lambda p: (p.fallback or "").ljust(PLACEHOLDER_ESTIMATE, "x"))
    sample = rewrite.as_counted(sample, ctx.link_domain)  # priced as sent: each URL a tracked link
    findings: list[Finding] = []
    if not ctx.sender_verified:
        findings.append(Finding("sender_not_verified", "block",
                                "The sender is not verified as the company's: only a number the provider "
                                "confirms belongs to the company's account may send."))
    for name, count in ctx.sendable_counts.items():
        if count == 0:
            findings.append(Finding("list_without_sendable", "warn",
                                    f"List {name!r} has nobody who can receive this campaign: no one on it has "
                                    "opted in, or everyone has opted out."))
    if not has_opt_out(text):
        fix = (f"The appended opt-out text {ctx.opt_out_text!r} names no keyword: change it to one such as "
               f"{DEFAULT_OPT_OUT_TEXT!r}." if ctx.append_opt_out else
               f"Add an instruction such as {DEFAULT_OPT_OUT_TEXT!r}, or turn on appending the opt-out text.")
        findings.append(Finding("opt_out_missing", "block",
                                f"The message does not tell recipients how to stop receiving texts. {fix}"))
    findings += _check_placeholders(body)
    findings += _check_shorteners(text)
    findings += _check_brand(text, ctx)
    findings += _check_shaft(text, ctx)
    findings += _check_encoding(text, sample, bool(template.placeholders(text)))
    if ctx.quiet_hours_share is not None and ctx.quiet_hours_share > QUIET_HOURS_WARN_SHARE:
        findings.append(Finding("quiet_hours", "warn",
                                f"At the scheduled time it is quiet hours for {ctx.quiet_hours_share:.0%} of the "
                                "audience: their messages will wait until their window opens, so most of the "
                                "campaign will not go out when planned."))
    findings += _check_oops(body, ctx)
    findings += _check_contacts(text, ctx)
    return findings
