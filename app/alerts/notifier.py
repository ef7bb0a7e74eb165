"""Tells ops about new alerts through a webhook (JSON with a Slack-compatible ``text``).

Run by the worker after the alert's transaction committed; retried with exponential back-off
(up to ``MAX_ATTEMPTS``), each attempt recorded on the alert.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.models import Alert

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def payload(alert: Alert) -> dict:
    emoji = {"unsubscribe_spike": ":rotating_light:", "sender_suspended": ":no_entry:"}.get(alert.kind, ":warning:")
    return {
        "text": f"{emoji} Fineline alert ({alert.kind}): {alert.message} Action: {alert.action}.",
        "alert": {"id": alert.id, "kind": alert.kind, "campaign_id": alert.campaign_id or None,
                  "sender_id": alert.sender_id or None, "metrics": alert.metrics, "action": alert.action,
                  "opened_at": alert.opened_at.isoformat()},
    }


async def notify_pending(db: Database, settings: Settings, http: httpx.AsyncClient, *, limit: int = 20) -> dict[str, int]:
    """Claim due notifications (a 60 s lease, so two workers never post the same one), post them
    outside any transaction, then record each outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0, "off": 0}
    now = utcnow()
    async with db.unit_of_work() as session:
        query = (select(Alert).where(Alert.notify_state == "pending", Alert.notify_next_at <= now)
                 .order_by(Alert.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for alert in (await session.scalars(query)).all():
            if not settings.ops_webhook_url:
                alert.notify_state = "off"
                counts["off"] += 1
                continue
            alert.notify_next_at = now + timedelta(seconds=60)
            claimed.append((alert.id, payload(alert)))
    for alert_id, body in claimed:
        try:
            response = await http.post(settings.ops_webhook_url, json=body, timeout=10.0)
            ok = response.status_code < 300
        except httpx.HTTPError as exc:
            log.warning("ops webhook for alert %s failed: %s", alert_id, exc)
            ok = False
        async with db.unit_of_work() as session:
            alert = await session.get(Alert, alert_id)
            alert.notify_attempts += 1
            if ok:
                alert.notify_state = "sent"
                counts["sent"] += 1
            elif alert.notify_attempts >= MAX_ATTEMPTS:
                alert.notify_state = "failed"
                counts["failed"] += 1
            else:
                delay = min(600.0, 2.0 ** alert.notify_attempts) * (0.5 + random.random())
                alert.notify_next_at = utcnow() + timedelta(seconds=delay)
                counts["retry"] += 1
    return counts
