"""Classify an inbound SMS as an opt-out, opt-in, confirmation, help request or plain reply.

The rule, in order (the first that matches wins, so an opt-out always beats everything else):

1. **Opt-out.** The message revokes consent when any of these holds:

   * the whole message is an opt-out keyword — STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
     REVOKE, REVOCATION, OPTOUT, OPT OUT / OPT-OUT — ignoring case, punctuation, emoji,
     surrounding whitespace, repetition ("STOP STOP") and politeness ("stop please", "pls stop");
     or the message is nothing but keywords and one of them is an opt-out ("HELP STOP", "yes stop");
   * one clause of the message (text between . ! ? , ; : or a line break) is a *strong*
     keyword on its own — STOP, STOPALL, UNSUBSCRIBE, REVOKE, OPTOUT, OPT OUT — as in
     "who is this? stop". The *weak* keywords CANCEL, END and QUIT count only as the whole
     message, because as single words they are also ordinary English ("the end.", "cancel?");
   * the message says so in plain words: "stop texting me", "take me off your list",
     "remove me", "unsubscribe me", "wrong number", "don't text me", "do not contact me",
     "no more texts", "leave me alone", "opt me out", "I want to unsubscribe", ... A phrase
     that asks to *keep* messages ("don't stop texting me", "don't unsubscribe me") is not one.

   Consent may be revoked "by any reasonable means", and a missed opt-out is a violation while
   a mistaken one costs a subscriber who can text START. So where a message plainly asks to stop
   we err towards opt-out; we do not guess from tone ("not interested", "🛑" alone stay replies).

2. **Opt-in.** The whole message is START or UNSTOP (same tolerance as above).
3. **Confirm.** The whole message is YES (or Y). It also opts a person back in and confirms a pending
   double opt-in; it is kept distinct from OPT_IN so the caller decides what it means.
4. **Help.** The whole message is HELP or INFO.
5. **Reply.** Anything else — a conversation for a human, never a change of consent.

A reply that is one word may still be a list's join keyword (``JOIN``, ``VIP``): the webhook looks
``join_candidate`` up among the keywords of the sender it was texted to (``Keyword.JOIN``), after
the rule above, so STOP always wins. ``keyword_problem`` refuses a join keyword that the rule would
read as anything but a reply.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    CONFIRM = "confirm"
    HELP = "help"
    REPLY = "reply"
    JOIN = "join"  # never returned by classify(): a reply the webhook found among a sender's join keywords


# Keywords are written normalised: lower case, hyphens as spaces.
STRONG_OPT_OUT = frozenset({"stop", "stopall", "stop all", "unsubscribe", "revoke", "optout", "opt out"})
WEAK_OPT_OUT = frozenset({"cancel", "end", "quit", "revocation"})
OPT_OUT_WORDS = STRONG_OPT_OUT | WEAK_OPT_OUT
OPT_IN_WORDS = frozenset({"start", "unstop"})
CONFIRM_WORDS = frozenset({"yes", "y"})
HELP_WORDS = frozenset({"help", "info"})

# Words that may surround a keyword without changing what it means: "STOP please", "ok stop".
_FILLER = frozenset(
    {"please", "pls", "plz", "now", "thanks", "thank", "you", "thx", "ty", "ok", "okay", "k", "just"}
)

# A clause boundary: sentence punctuation, line breaks, or a dash with spaces around it.
_CLAUSE_SPLIT = re.compile(r"[.!?,;:\n\r]+|\s[-–—]+\s")

_NEGATION = r"(?<!\bdont )(?<!\bdo not )(?<!\bnever )(?<!\bcant )(?<!\bcannot )(?<!\bwont )(?<!\bnot )"
_MESSAGES = r"(?:texts?|texting|txts?|txting|messages?|messaging|msgs?|sms|spam|spamming|sending|contacting)"
_CONTACT_VERB = r"(?:text|txt|message|msg|sms|contact|call|spam)"
# Up to two words between "stop" and what is to stop: "stop the texts", "stop sending me messages".
_BETWEEN = r"(?:(?:me|these|those|the|your|all|this|any|them|with|sending|getting|receiving|marketing|promo|promotional)\s+){0,2}"

# Plain-language revocations. Matched against normalised text (see `_normalise`): lower case,
# apostrophes dropped ("don't" -> "dont"), every other non-alphanumeric run turned into a space.
_PHRASES = tuple(
    re.compile(p)
    for p in (
        # "stop texting me", "please stop sending these", "stop the messages", "quit messaging me"
        _NEGATION + r"\b(?:stop|quit|cease)\s+" + _BETWEEN + _MESSAGES + r"\b",
        # "stop it", "stop this", "stop these now" (as the end of the message)
        _NEGATION + r"\bstop\s+(?:it|this|these|them|that|all)(?:\s+(?:now|please|pls))?$",
        # "unsubscribe me", "how do I unsubscribe", "I want to opt out", "opt me out"
        _NEGATION + r"\b(?:unsubscribe|optout|opt\s+out|opt\s+me\s+out)\b",
        # "take me off your list", "get me off this"
        r"\b(?:take|get|cross|strike)\s+me\s+off\b",
        # "remove me", "remove me from this list", "delete my number"
        _NEGATION + r"\b(?:remove|delete|erase)\s+(?:me|my\s+(?:number|phone|info|details|contact))\b",
        # "wrong number", "wrong person"
        r"\bwrong\s+(?:number|person|phone|guy|girl)\b",
        # "don't text me", "do not contact me", "never message me again"
        r"\b(?:dont|do\s+not|never)\s+" + _CONTACT_VERB + r"\s+(?:me|this\s+number)\b",
        # "no more texts", "no more messages please"
        r"\bno\s+more\s+" + _BETWEEN + _MESSAGES + r"\b",
        # "leave me alone"
        r"\bleave\s+me\s+alone\b",
        # "I don't want these texts", "I do not want any more messages"
        r"\b(?:dont|do\s+not)\s+want\s+(?:(?:these|your|any|this|the|more|those)\s+){0,2}"
        + _MESSAGES
        + r"\b",
        # "lose my number"
        r"\blose\s+my\s+number\b",
    )
)


def _normalise(text: str) -> str:
    """Lower-case, fold look-alike characters, drop apostrophes and turn punctuation into spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"['’‘`´]", "", text)  # don't -> dont
    text = re.sub(r"[\W_]+", " ", text)  # punctuation, emoji and hyphens become spaces
    return " ".join(text.split())


_ALL_KEYWORDS = OPT_OUT_WORDS | OPT_IN_WORDS | CONFIRM_WORDS | HELP_WORDS


def _keywords_only(normalised: str) -> list[str] | None:
    """The keywords this text consists of, ignoring politeness, or None if it says anything else.

    "stop" -> ["stop"]; "stop stop please" -> ["stop", "stop"]; "opt out" -> ["opt out"];
    "help stop" -> ["help", "stop"]; "stop and go" -> None.
    """
    words = [w for w in normalised.split() if w not in _FILLER]
    found: list[str] = []
    i = 0
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if pair in _ALL_KEYWORDS:  # "opt out", "stop all"
            found.append(pair)
            i += 2
        elif words[i] in _ALL_KEYWORDS:
            found.append(words[i])
            i += 1
        else:
            return None
    return found or None


def _bare_keyword(normalised: str) -> str | None:
    """The one keyword this text consists of (repetition and politeness allowed), else None."""
    found = _keywords_only(normalised)
    if found and len(set(found)) == 1:
        return found[0]
    return None


def is_opt_out(body: str) -> bool:
    """True when the message revokes consent (rule 1 of the module docstring)."""
    whole = _normalise(body)
    if not whole:
        return False
    keywords = _keywords_only(whole)
    if keywords and any(k in OPT_OUT_WORDS for k in keywords):  # "STOP", "HELP STOP", "yes stop"
        return True
    for clause in _CLAUSE_SPLIT.split(unicodedata.normalize("NFKC", body)):
        if _bare_keyword(_normalise(clause)) in STRONG_OPT_OUT:
            return True
    return any(p.search(whole) for p in _PHRASES)


def classify(body: str | None) -> Keyword:
    """Classify an inbound message body; see the module docstring for the rule."""
    if not body:
        return Keyword.REPLY
    if is_opt_out(body):
        return Keyword.OPT_OUT
    keyword = _bare_keyword(_normalise(body))
    if keyword in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if keyword in CONFIRM_WORDS:
        return Keyword.CONFIRM
    if keyword in HELP_WORDS:
        return Keyword.HELP
    return Keyword.REPLY


_JOIN_KEYWORD = re.compile(r"[a-z0-9]{2,20}")


def join_candidate(body: str | None) -> str | None:
    """The one word (lower case, politeness and punctuation dropped) a reply could be a join keyword
    as: "Join!" -> "join", "vip please" -> "vip"; None for anything longer or not a keyword's shape."""
    words = [w for w in _normalise(body or "").split() if w not in _FILLER]
    if len(words) != 1 or not _JOIN_KEYWORD.fullmatch(words[0]):
        return None
    return words[0]


def keyword_problem(raw: str) -> str | None:
    """Why ``raw`` cannot be a join keyword, or None. A keyword is 2-20 letters or digits, one word,
    and never a word the rule above reads as an opt-out, opt-in, confirmation or help request."""
    if not _JOIN_KEYWORD.fullmatch(raw.strip().lower()):
        return f"{raw!r} is not a keyword: use one word of 2 to 20 letters or digits"
    kind = classify(raw)
    if kind is not Keyword.REPLY:
        return f"{raw!r} is reserved: subscribers text it to {_RESERVED_MEANING[kind]}"
    if raw.strip().lower() in _FILLER:
        return f"{raw!r} is too common a word to be a keyword"
    return None


_RESERVED_MEANING = {Keyword.OPT_OUT: "opt out", Keyword.OPT_IN: "opt back in", Keyword.CONFIRM: "confirm",
                     Keyword.HELP: "ask for help"}
