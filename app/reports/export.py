"""The per-recipient outcome of a campaign as CSV, streamed: one row per message, in send order."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

from app.audience.export import safe_cell
from app.config import Settings
from app.db import Database
from app.reports import service

COLUMNS = ["message_id", "phone", "state", "skip_reason", "error_code", "sent_at", "delivered_at", "opted_out",
           "opted_out_at", "replied", "clicked", "segments", "canary_rest"]


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def row_of(message, clicked: set[str]) -> list[str]:
    """One message's cells, each guarded against spreadsheet formulas (a phone starts with '+')."""
    return [safe_cell(cell) for cell in (
        message.id, message.to, message.state, message.skip_reason, message.error_code,
        _time(message.sent_at), _time(message.delivered_at), _flag(message.opted_out_at is not None),
        _time(message.opted_out_at), _flag(bool(message.replied)),
        _flag(message.subscriber_id in clicked), message.segments, _flag(message.canary_rest))]


async def outcome_csv(db: Database, campaign_id: str, sender_id: str, settings: Settings) -> AsyncIterator[str]:
    """Read after the request's session is gone: ids only, each page in its own session."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    async for rows, clicked in service.outcome_pages(db, campaign_id, sender_id, settings):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(row_of(message, clicked) for message in rows)
        yield buffer.getvalue()
