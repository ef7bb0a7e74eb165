"""The opt-out instruction appended to campaign texts unless the company configures its own."""

from __future__ import annotations

DEFAULT_OPT_OUT_TEXT = "Reply STOP to opt out."
