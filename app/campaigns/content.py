"""The automated content review of a campaign: pure checks, each with a stable code.

``check_content`` returns findings for a reviewer. A ``block`` finding stops approval until the
campaign is changed; a ``warn`` is shown next to the rendered messages and the reviewer decides.
Each message says what was found, where, and why it matters, so the reviewer need not guess.

Spans index ``full_body(body, ctx)``, which starts with ``body`` itself, so a span inside the
body points at the same characters in both.

The "oops" detector (``oops_personal``) looks for a personal text sent to the wrong audience:
endearments, private plans, texting slang, kisses. It weighs cues rather than matching single
words, so "We love our customers" or "Miss the sale? It's back" stay quiet. It warns rather than
blocks: the words that triggered it are listed and the reviewer makes the call in seconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

from app.campaigns import segments, template
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


# Straight quotes for curly ones, one character for one, so spans stay valid.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


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

# --- the oops detector ------------------------------------------------------------------------

STRONG = 2.0  # one cue this strong is enough on its own
FIRE_AT = 2.0  # otherwise the cues together, less the marketing signals, must reach this
UNBRANDED = 0.5  # a text that never names the company leans personal


@dataclass(frozen=True)
class _Cue:
    kind: str
    weight: float
    pattern: re.Pattern[str]
    unless_before: re.Pattern[str] | None = None  # tested against the text just before the match


def _cue(kind: str, weight: float, pattern: str, unless_before: str | None = None) -> _Cue:
    before = re.compile(unless_before + r"$", re.IGNORECASE) if unless_before else None
    return _Cue(kind, weight, re.compile(pattern, re.IGNORECASE), before)


# A company speaks as "we": "we love you", "we miss you", "we can't wait to see you" are marketing.
_WE = r"(?:\b(?:we|we'd|we'll|we've|we're|we are|we do|we have|we all|we really|we truly|we just|we so|we sure|everyone|team|would|say|says|said)\s+['\"]?|['\"])"
_ADDRESS_AFTER = r"\b(?:hey|hi|hiya|morning|night|nite|thanks|thank you|thx|ty|okay|ok|kk|yes|yeah|yep|sorry|bye|love you|miss you|love u|miss u|you too)[,!.]?\s+"
_NOT_A_PET_NAME = r"(?![\s-]*(?:shower|sale|products?|gear|clothes|clothing|food|formula|registry|glazed|ham|butter|latte|mustard|bees?|collection|days?|essentials|boutique|care|bath)\b)"
_SLANG = {
    2.0: r"lmao|lmfao|rofl|brb|ttyl|ttys|wyd|hbu|wbu|smh|ikr|ngl|hmu|wtf|ffs|omfg|u up|you up\?|r u up",
    1.5: r"lol|haha\w*|hehe\w*|tbh|idk|lmk|nvm|jk|rn|r u|where r u",
    1.0: r"omg|gonna|wanna|u|ur|k|kk|ugh|np|bc",
}

OOPS_CUES: list[_Cue] = [
    _cue("term of endearment", 2.0, r"\b(?:babe|babes|bae|hun|hunny|sweetie|sweetpea|sugarplum|snookums|my love|my darling|honeybun\w*)\b"),
    _cue("term of endearment", 2.0, r"\bsweetheart\b(?![\s-]*(?:neckline|dress|deal|rose)\b)"),
    _cue("term of endearment", 1.5, r"\b(?:hubby|wifey)\b"),
    _cue("term of endearment", 2.0, _ADDRESS_AFTER + r"(?:honey|baby|darling|hon)\b" + _NOT_A_PET_NAME),
    _cue("term of endearment", 2.0, r"(?:^|,\s*)(?:honey|baby|darling|hon)\s*(?:[,!?.]|$)" + _NOT_A_PET_NAME),
    _cue("term of endearment", 1.5, _ADDRESS_AFTER + r"(?:love|sugar)\b" + _NOT_A_PET_NAME),
    _cue("term of endearment", 1.5, r"(?<!your )(?<!new )(?<!the )(?<!for )(?<!a )(?<!my )\b(?:honey|baby|darling)[.!]+(?:\s|$)"),
    _cue("love or kisses", 2.0, r"\b(?:i\s+)?(?:love|luv)\s+(?:you|u|ya)\b", unless_before=_WE),
    _cue("love or kisses", 2.0, r"\b(?:i\s+)?(?:miss|missed|missing)\s+(?:you|u|ya|your face)\b", unless_before=_WE),
    _cue("love or kisses", 2.0, r"\b(?:ily|ilysm|ilu|xox\w*|muah+|mwah+|smooches|hugs and kisses)\b"),
    _cue("love or kisses", 2.0, r"(?:^|\s)(?:xo|xx+)[\s!.]*$"),
    _cue("love or kisses", 1.0, r"\sx[\s!.]*$"),
    _cue("flirting", 2.0, r"\b(?:you|u|ur|you're)\s+(?:look(?:ed)?\s+|are\s+|r\s+)?(?:so+\s+|really\s+)?(?:hot|sexy|gorgeous|beautiful|handsome|cute)\b"),
    _cue("flirting", 2.0, r"\b(?:can't stop thinking|last night was|your place or mine|netflix and chill|kiss me|cuddl\w*|come over)\b"),
    _cue("flirting", 1.5, r"\b(?:can't wait to see|thinking (?:about|of)|wish)\s+(?:you|u)\b", unless_before=_WE),
    _cue("private plans", 2.0, r"\b(?:pick up|grab|get)\s+(?:the kids?|milk|bread|eggs|diapers|the dog|(?:the )?dry cleaning|groceries|me)\b|\bpick me up\b"),
    _cue("private plans", 2.0, r"\b(?:be home|home (?:soon|late|by)|on my way home|stuck at work|leaving (?:work|the office))\b"),
    _cue("private plans", 1.5, r"\b(?:i'm|im|i am|i'll be|gonna be|will be)\s+(?:running\s+)?(?:a (?:bit|little)\s+)?late\b"),
    _cue("private plans", 1.0, r"\brunning late\b"),
    _cue("private plans", 1.5, r"\b(?:on my way|omw|otw|be there in \d+|stuck in traffic|where are you|what time (?:are|r|will) (?:you|u)|are you (?:home|free|up|awake|busy|coming)|what are you doing|(?:need|want) anything|save me (?:a|some)|did you (?:feed|remember|call|get|see)|don't be late)\b"),
    _cue("private plans", 2.0, r"\bcall me (?:later|back|tonight|when|after|asap|anytime|on my|at)\b"),
    _cue("private plans", 1.5, r"\b(?:call me|text me|call you (?:later|back|after|tonight)|talk (?:later|tonight)|my cell|my personal (?:number|cell|phone|email))\b"),
    _cue("private plans", 1.0, r"\b(?:my (?:mom|dad|wife|husband|sister|brother|parents)|mom's|dad's|the kids|your (?:sister|brother|parents))\b"),
    _cue("private plans", 1.0, r"\b(?:tonight|this weekend|later)\s*\?"),
    _cue("kiss or heart emoji", 1.5, r"[\U0001F618\U0001F48B\U0001F61A\U0001F619\U0001F970]"),  # 😘 💋 😚 😙 🥰
    _cue("kiss or heart emoji", 1.0, r"[\u2764\u2665\U0001F495\U0001F496\U0001F497\U0001F493\U0001F49E\U0001F498\U0001F49D\U0001F60D\U0001FAF6\U0001F63B]"),
    *[_cue("texting slang", weight, rf"(?<![\w'])(?:{words})(?![\w']|\.\w)") for weight, words in _SLANG.items()],
    _cue("texting slang", 1.0, r"\b\w*([a-z])\1\1\w*\b"),  # heyyy, sooo, yesss
    _cue("first person", 0.5, r"\b(?:i|i'm|im|i'll|i'd|i've|me|my)\b"),
]

# Signs of a campaign. Each one lowers the score of the softer cues a little.
_MARKETING_SIGNALS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\d\s*%|\$\s?\d",
        r"\b(?:sale|discount|promo|coupon|deals?|offer|savings|save|free shipping)\b",
        r"\bcode\s+[a-z0-9]{3,}\b",
        r"\b(?:shop|order|book|reserve|buy|visit|upgrade|download|members?|customers?|appointment|tickets?)\b",
        r"\b(?:https?://|www\.)|\b[\w-]+\.(?:com|org|net|io|co|shop|app|us)\b",
        r"\{[^{}]+\}",
    )
]
_URL = re.compile(r"(?:https?://|www\.)\S+|(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|co|shop|app|us)\b(?:/\S*)?", re.IGNORECASE)


@dataclass(frozen=True)
class OopsCue:
    text: str
    kind: str
    weight: float
    span: tuple[int, int]


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def oops_cues(body: str, brand_name: str = "") -> tuple[list[OopsCue], float]:
    """The personal-text cues in ``body`` and the adjustment to their sum: minus a little for each
    kind of campaign signal (prices, codes, links, placeholders), plus a little if the brand is absent.

    The brand name and links are blanked first, so "XO Cafe" or "Love Your Hair Salon" and a
    URL path do not count against the text."""
    text = body.translate(_QUOTES)
    adjustment = -min(1.5, 0.5 * sum(1 for signal in _MARKETING_SIGNALS if signal.search(text)))
    text = _mask(text, _URL)
    if brand_name.strip():
        adjustment += 0 if _find(_brand_pattern(brand_name), body) else UNBRANDED
        text = _mask(text, re.compile(_brand_pattern(brand_name), re.IGNORECASE))
    found: dict[str, OopsCue] = {}  # each distinct word counts once; "I", "me", "my" once together
    for cue in OOPS_CUES:  # stronger cues first, so "the kids" inside "pick up the kids" adds nothing
        for match in cue.pattern.finditer(text):
            before = text[max(0, match.start() - 40):match.start()]
            if cue.unless_before and cue.unless_before.search(before):
                continue
            if any(match.start() < c.span[1] and c.span[0] < match.end() for c in found.values()):
                continue
            word = body[match.start():match.end()].strip()
            key = cue.kind if cue.kind == "first person" else word.lower()
            found.setdefault(key, OopsCue(word, cue.kind, cue.weight, match.span()))
    return sorted(found.values(), key=lambda cue: cue.span), adjustment


def looks_personal(cues: list[OopsCue], adjustment: float) -> bool:
    """One strong cue, or enough softer ones once the campaign signals are weighed against them."""
    if not cues:
        return False
    if max(cue.weight for cue in cues) >= STRONG:
        return True
    return sum(cue.weight for cue in cues) + adjustment >= FIRE_AT


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


def _brand_pattern(brand: str) -> str:
    parts = [r"'?" if char == "'" else r"\s+" if char.isspace() else re.escape(char) for char in brand.strip()]
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)"


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


def _check_oops(body: str, ctx: ContentContext) -> list[Finding]:
    cues, adjustment = oops_cues(body, ctx.brand_name)
    if not looks_personal(cues, adjustment):
        return []
    words = ", ".join(f"{cue.text!r} ({cue.kind})" for cue in cues)
    unbranded = f", and it never names {ctx.brand_name.strip()!r}" if adjustment > 0 else ""
    return [Finding(
        "oops_personal", "warn",
        f"This reads like a personal text, not a campaign: {words}{unbranded}. Check it was meant for "
        "customers before it goes to the whole list.",
        cues[0].span,
    )]


def check_content(body: str, ctx: ContentContext) -> list[Finding]:
    """Every finding for ``body`` under ``ctx``, in a stable order."""
    text = full_body(body, ctx)
    sample = template.substitute(text, lambda p: (p.fallback or "").ljust(PLACEHOLDER_ESTIMATE, "x"))
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
