"""Alerts: opened once per (kind, campaign, sender) while unresolved, acknowledged, resolved.

Opening is an INSERT … ON CONFLICT DO NOTHING against a partial unique index, so two workers (or
two webhook requests) seeing the same spike at the same moment open one alert between them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import lifecycle
from app.audit.service import record
from app.db.base import new_id, utcnow
from app.errors import Conflict, NotFound
from app.models import Alert, User
from app.vocab.alert import AlertState

KINDS = ("unsubscribe_spike", "sender_suspended", "delivery_failure_spike", "canary_held")


async def open_alert(session: AsyncSession, kind: str, *, message: str, action: str, metrics: dict,
                     campaign_id: str = "", sender_id: str = "", notify: bool = True) -> Alert | None:
    """The new alert, or None when one of that kind is already unresolved for the same subject."""
    now = utcnow()
    values = {"id": new_id("alr"), "kind": kind, "campaign_id": campaign_id, "sender_id": sender_id, "state": AlertState.OPEN,
              "metrics": metrics, "action": action, "message": message, "opened_at": now, "updated_at": now,
              "notify_state": "pending" if notify else "off", "notify_attempts": 0, "notify_next_at": now}
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Alert)
    statement = insert.values(**values).on_conflict_do_nothing(
        index_elements=["kind", "campaign_id", "sender_id"], index_where=text(f"state != '{AlertState.RESOLVED}'"))
    alert = await session.scalar(statement.returning(Alert))  # the new row as an entity: no read back
    if alert is None:
        return None
    record(session, "alert.opened", actor=None, target_type="alert", target_id=alert.id, kind=kind,
           campaign_id=campaign_id or None, sender_id=sender_id or None, alert_action=action)
    return alert


async def get_alert(session: AsyncSession, alert_id: str, *, lock: bool = False) -> Alert:
    alert = await session.get(Alert, alert_id, with_for_update=lock or None)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return alert


async def list_alerts(session: AsyncSession, *, state: str | None, limit: int, cursor: str | None,
                      changed_since: datetime | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if state:
        query = query.where(Alert.state == state)
    if cursor:
        query = query.where(Alert.id < cursor)
    if changed_since is not None:
        query = query.where(Alert.updated_at > changed_since)
    return list((await session.scalars(query)).all())


def _move(alert: Alert, target: str) -> None:
    """The one place an alert's state changes after it opened: the lifecycle table decides."""
    try:
        lifecycle.check_move(alert.state, target)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from exc
    alert.state, alert.updated_at = target, utcnow()


async def acknowledge(session: AsyncSession, alert: Alert, *, actor: User, comment: str | None) -> Alert:
    _move(alert, AlertState.ACKNOWLEDGED)
    alert.acknowledged_at, alert.acknowledged_by_id = alert.updated_at, actor.id
    alert.comment = comment or alert.comment
    record(session, "alert.acknowledged", actor=actor, target_type="alert", target_id=alert.id, comment=comment)
    await session.flush()
    return alert


async def resolve(session: AsyncSession, alert: Alert, *, actor: User | None, comment: str | None) -> Alert:
    _move(alert, AlertState.RESOLVED)
    alert.resolved_at, alert.resolved_by_id = alert.updated_at, actor.id if actor else None
    alert.comment = comment or alert.comment
    record(session, "alert.resolved", actor=actor, target_type="alert", target_id=alert.id, comment=comment)
    await session.flush()
    return alert
