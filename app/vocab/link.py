"""What a tracked-link click was (the rule that decides it: ``app.links.bots``)."""

from __future__ import annotations

from enum import StrEnum


class ClickKind(StrEnum):
    HUMAN = "human"  # a person opened the link
    BOT = "bot"  # a link previewer, crawler or safe-browsing agent fetched it
