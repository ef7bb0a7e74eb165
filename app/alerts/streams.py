"""Live alert streams held against their API key: how many one key may hold, and whether the key
still stands. Counted per API process (each process caps its own streams; the key itself is
re-checked against the database, so a revoked key or an offboarded employee loses every stream
within one re-check wherever it runs)."""

from __future__ import annotations

from collections import Counter

from app import api_keys as keys
from app.errors import TooManyRequests

_open: Counter[str] = Counter()


class StreamSlot:
    """One stream's place under its key's cap. ``release`` may be called more than once."""

    def __init__(self, token: str, limit: int):
        self.fingerprint = keys.digest(token)
        if _open[self.fingerprint] >= limit:
            raise TooManyRequests(f"this API key already holds {limit} alert streams (the limit per key); close one "
                                  "or use another key", code="too_many_streams")
        _open[self.fingerprint] += 1
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            _open[self.fingerprint] -= 1
            if _open[self.fingerprint] <= 0:
                del _open[self.fingerprint]


async def key_still_allows(session, token: str, role: str) -> str | None:
    """None while the key is live and its user active with ``role``; else why the stream closes."""
    user = await keys.authenticate(session, token)
    if user is None:
        return "the API key was revoked or its user offboarded"
    if not user.has_any(role):
        return f"the key's user no longer has the role {role}"
    return None
