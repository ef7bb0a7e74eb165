"""Build the oops detector's training and evaluation sets (data/oops/train.tsv, data/oops/eval.tsv).

    python data/oops/build.py [--tatoeba PATH_TO_fra.txt] [--chatterbot PATH_TO_REPO]

With the source paths it first refreshes sources/ (the selected public sentences); without them it
uses the committed sources/. Everything is deterministic (fixed seeds, split by a hash of each
item's group), so running it again gives the same files. See README.md for provenance and licences.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = HERE / "sources"
WRITTEN = HERE / "written"
TATOEBA_SAMPLE = 6000
EVAL_SHARE = 5  # one group in five goes to the evaluation set

NAMES = ["Tom", "Mary", "Sam", "Priya", "Wei", "Ahmed", "Jess", "Raj", "Mike", "Ana", "Kofi", "Li", "Ben",
         "Sara", "Dev", "Nina", "Joe", "Mei", "Ravi", "Kate"]

# Texting rewrites: how people shorten words on a phone. Each applies to a word with some chance.
SHORT = {
    "you": ["u", "u", "ya", "yu"], "your": ["ur", "yr"], "you're": ["ur", "youre"], "are": ["r"],
    "to": ["2", "to"], "for": ["4", "for"], "see": ["c"], "tonight": ["2nite", "tonite"],
    "tomorrow": ["tmr", "2moro", "tmrw", "tomoro"], "please": ["pls", "plz"], "thanks": ["thx", "tks", "thanks"],
    "because": ["cos", "coz", "bcoz", "bc"], "what": ["wat", "wot", "wht"], "okay": ["ok", "k", "okie"],
    "great": ["gr8"], "later": ["l8r", "ltr"], "before": ["b4"], "the": ["da", "the", "d"],
    "and": ["n", "&", "nd"], "with": ["wif", "w/", "wit"], "don't": ["dont", "dun"], "i'm": ["im", "i m"],
    "can't": ["cant", "cnt"], "people": ["ppl"], "message": ["msg"], "text": ["txt"], "know": ["noe", "kno"],
    "really": ["rly", "rlly"], "about": ["abt"], "be": ["b"], "why": ["y"], "good": ["gd", "gud"],
    "night": ["nite"], "going": ["goin"], "coming": ["comin", "cumin"], "have": ["hav", "hv"],
    "sorry": ["sry", "soz"], "already": ["alr", "liao"], "don't know": ["dunno"], "want to": ["wanna"],
    "going to": ["gonna"], "got to": ["gotta"], "think": ["tink", "thk"], "love": ["luv"], "yes": ["ya", "yup", "yea"],
    "minutes": ["mins"], "probably": ["prob", "prolly"], "something": ["sth", "smth"], "tell": ["tel"],
    "where": ["wer", "whr"], "when": ["wen"], "now": ["nw", "now"], "right": ["rite"], "that": ["dat"],
}
PARTICLES = [" lar", " lor", " leh", " ah", " da", " haha", " lol", " :)", " :-)", "...", " hehe", " la", " ya", " ok"]


def group_of(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def textify(text: str, rng: random.Random) -> str:
    """One person's phone spelling of ``text``."""
    out = text
    for phrase in ("don't know", "want to", "going to", "got to"):
        if phrase in out.lower() and rng.random() < 0.6:
            out = re.sub(re.escape(phrase), rng.choice(SHORT[phrase]), out, flags=re.IGNORECASE)
    words = out.split(" ")
    rate = rng.choice([0.3, 0.5, 0.8])
    for i, word in enumerate(words):
        core = word.strip(".,!?").lower()
        if core in SHORT and rng.random() < rate:
            tail = word[len(word.rstrip(".,!?")):]
            words[i] = rng.choice(SHORT[core]) + tail
    out = " ".join(words)
    if rng.random() < 0.6:
        out = out.lower()
    if rng.random() < 0.6:
        out = out.rstrip(".")
    if rng.random() < 0.2:
        out += rng.choice(PARTICLES)
    if rng.random() < 0.1:
        out = rng.choice(["Ok ", "Hey ", "Oh ", "Haha ", "Eh ", "Hi "]) + out[:1].lower() + out[1:]
    if rng.random() < 0.1 and len(out) > 4:  # a typo: two letters swapped
        i = rng.randrange(1, len(out) - 2)
        out = out[:i] + out[i + 1] + out[i] + out[i + 2:]
    return out


def read_lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def refresh_tatoeba(path: Path) -> None:
    english = []
    seen = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        sentence = line.split("\t")[0].strip()
        if sentence and sentence not in seen:
            seen.add(sentence)
            english.append(sentence)
    rng = random.Random(16)
    sample = sorted(rng.sample(english, TATOEBA_SAMPLE), key=english.index)
    header = "# English sentences from the Tatoeba project (tatoeba.org), CC BY 2.0 FR; see README.md.\n"
    (SOURCES / "tatoeba_en.txt").write_text(header + "\n".join(sample) + "\n", encoding="utf-8")


def refresh_chatterbot(repo: Path) -> None:
    lines = []
    for topic in ("conversations", "greetings", "emotion", "food", "gossip", "humor", "health", "sports", "movies"):
        yml = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:chatterbot_corpus/data/english/{topic}.yml"],
                             capture_output=True, text=True, check=True).stdout
        for line in yml.splitlines():
            match = re.match(r"^\s*- (?:- )?(.+)$", line)
            if match and not match.group(1).startswith(("conversations", "categories")):
                text = match.group(1).strip().strip("'\"")
                if 1 < len(text) <= 160 and text not in lines:
                    lines.append(text)
    header = "# English lines from the ChatterBot corpus (github.com/gunthercox/chatterbot-corpus), BSD-3-Clause; see README.md.\n"
    (SOURCES / "chatterbot_en.txt").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")


OPT_OUTS = ["Reply STOP to opt out.", "Txt STOP to end", "Reply STOP to unsubscribe.", "STOP to opt out",
            "Msg&data rates may apply. Reply STOP to cancel.", "Opt out: reply STOP", "Text STOP to quit.",
            "Reply STOP to stop receiving messages.", "Reply HELP for help, STOP to end."]


def strip_brand(brand: str, body: str) -> str:
    out = re.sub(r"^\s*" + re.escape(brand.split()[0]) + r"[^:]{0,30}:\s*", "", body)
    return out[:1].upper() + out[1:]


_SIGNAL = re.compile(r"\{|https?://|www\.|\.(?:com|org|io|co|uk|edu)\b|[$£€%]|\d{3}|\bcode\b|\b[A-Z]+\d+\b|\b(?:text|txt|reply)\b",
                     re.IGNORECASE)


def bare_sentences(brand: str, body: str) -> str:
    """The campaign without its tell-tale signs: only the sentences with no link, price, code,
    placeholder, number, keyword or brand. What a casual brand voice sounds like."""
    body = strip_brand(brand, body)
    kept = [s for s in re.split(r"(?<=[.!?])\s+", body)
            if not _SIGNAL.search(s) and brand.split()[0].lower() not in s.lower()]
    text = " ".join(kept).strip()
    return text if len(text.split()) >= 3 else ""


def render(body: str, rng: random.Random) -> str:
    return re.sub(r"\{[^{}]+\}", lambda m: rng.choice(NAMES) if "name" in m.group(0) else "48213", body)


def build() -> None:
    rng = random.Random(20261203)
    brands = sorted({line.split("\t")[0] for line in read_lines(WRITTEN / "marketing.tsv")})
    rows: list[tuple[int, str, str, str, str]] = []  # (group, label, source, brand, text)

    def personal(source: str, text: str, variants: int) -> None:
        group = group_of(text)
        written = text.rstrip(".") if source == "tatoeba" and rng.random() < 0.5 else text  # texts often end bare
        rows.append((group, "personal", source, rng.choice(brands + [""]), written))
        for _ in range(variants):
            rows.append((group, "personal", source + "+textified", rng.choice(brands + [""]), textify(text, rng)))

    for text in read_lines(WRITTEN / "personal.txt"):
        personal("written", text, 2)
    for text in read_lines(SOURCES / "chatterbot_en.txt"):
        personal("chatterbot", text, 1)
    for text in read_lines(SOURCES / "tatoeba_en.txt"):
        text = re.sub(r"\bTom\b", lambda _: rng.choice(NAMES), text)
        personal("tatoeba", text, 1 if rng.random() < 0.7 else 0)

    for label, path in (("marketing", "marketing.tsv"), ("service", "service.tsv")):
        for line in read_lines(WRITTEN / path):
            brand, body = line.split("\t", 1)
            group = group_of(body)
            source = "written"
            rows.append((group, label, source, brand, body))
            rows.append((group, label, source + "+unbranded-caller", "", body))
            rows.append((group, label, source + "+rendered", brand, render(body, rng)))
            if label == "marketing":
                stripped = strip_brand(brand, body)
                if stripped != body:
                    rows.append((group, label, source + "+no-prefix", brand, stripped))
                rows.append((group, label, source + "+opt-out", brand, f"{body} {rng.choice(OPT_OUTS)}"))
                bare = bare_sentences(brand, body)
                if bare and bare != body:
                    rows.append((group, label, source + "+bare", rng.choice([brand, ""]), bare))
                if not body.startswith(brand.split()[0]):
                    rows.append((group, label, source + "+prefix", brand, f"{brand}: {body} {rng.choice(OPT_OUTS)}"))

    # The reply model's business side: short answers an employee types in the inbox, as written,
    # from a caller that does not know the brand, and typed quickly (lower case, no full stop).
    for line in read_lines(WRITTEN / "replies.tsv"):
        brand, body = line.split("\t", 1)
        group = group_of(body)
        rows.append((group, "reply", "written", brand, body))
        rows.append((group, "reply", "written+unbranded-caller", "", body))
        rows.append((group, "reply", "written+quick", brand, body.lower().rstrip(".")))

    train = [r for r in rows if r[0] % EVAL_SHARE]
    evaluation = [r for r in rows if not r[0] % EVAL_SHARE]
    for name, part in (("train.tsv", train), ("eval.tsv", evaluation)):
        lines = ["label\tsource\tbrand\ttext"] + [
            "\t".join((label, source, brand, text.replace("\t", " "))) for _, label, source, brand, text in part
        ]
        (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts = {label: sum(1 for r in part if r[1] == label) for label in ("personal", "marketing", "service", "reply")}
        print(name, counts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tatoeba", type=Path, help="a manythings.org fra-eng fra.txt (Tatoeba sentence pairs)")
    parser.add_argument("--chatterbot", type=Path, help="the git directory of gunthercox/chatterbot-corpus")
    args = parser.parse_args()
    SOURCES.mkdir(exist_ok=True)
    if args.tatoeba:
        refresh_tatoeba(args.tatoeba)
    if args.chatterbot:
        refresh_chatterbot(args.chatterbot)
    build()
