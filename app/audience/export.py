"""The evidence pack: a list's subscribers and their whole consent history as CSV, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from sqlalchemy import select

from app.db import Database
from app.models import ConsentEvent, Subscriber, Subscription

COLUMNS = ["subscriber_id", "phone", "first_name", "subscription_state", "event_id", "event", "channel",
           "consented_at", "recorded_at", "evidence", "ip", "inbound_sid", "user_agent", "page_url",
           "disclosure_id"]
PAGE = 1000


def safe_cell(value) -> str:
    """Spreadsheet formula injection guard: a cell that would start a formula is quoted with '."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def evidence_csv(db: Database, list_id: str) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    cursor = ""
    while True:
        async with db.session() as session:
            page = (await session.execute(
                select(Subscriber, Subscription.state)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .where(Subscription.list_id == list_id, Subscriber.id > cursor)
                .order_by(Subscriber.id).limit(PAGE)
            )).all()
            if not page:
                return
            ids = [subscriber.id for subscriber, _ in page]
            events = (await session.scalars(
                select(ConsentEvent).where(ConsentEvent.subscriber_id.in_(ids),
                                           (ConsentEvent.list_id == list_id) | ConsentEvent.list_id.is_(None))
                .order_by(ConsentEvent.subscriber_id, ConsentEvent.id)
            )).all()
        by_subscriber: dict[str, list[ConsentEvent]] = {}
        for event in events:
            by_subscriber.setdefault(event.subscriber_id, []).append(event)
        buffer.seek(0)
        buffer.truncate()
        for subscriber, state in page:
            for event in by_subscriber.get(subscriber.id, []):
                writer.writerow([safe_cell(v) for v in (
                    subscriber.id, subscriber.phone, subscriber.first_name, state, event.id, event.kind,
                    event.channel, event.consented_at.isoformat(), event.recorded_at.isoformat(), event.evidence,
                    event.ip, event.inbound_sid, event.user_agent, event.page_url, event.disclosure_id)])
        yield buffer.getvalue()
        cursor = page[-1][0].id
