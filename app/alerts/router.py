from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.alerts import policy, service
from app.alerts.schemas import AlertOut, CommentIn
from app.campaigns import service as campaigns
from app.deps import OpsDep, SessionDep, SettingsDep, bearer_token
from app.models import Alert
from app.pagination import Page, PageDep, page_of
from app.streams import event_stream, frame
from app.vocab.alert import AlertState
from app.vocab.roles import Role

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("", response_model=Page[AlertOut])
async def list_alerts(session: SessionDep, _: OpsDep, page: PageDep,
                      state: AlertState | None = None):
    result = page_of(await service.list_alerts(session, state=state, limit=page.limit + 1, cursor=page.cursor), page)
    result["items"] = [AlertOut.of(a) for a in result["items"]]
    return result


@router.get("/stream", response_class=StreamingResponse)
async def stream_alerts(request: Request, _: OpsDep, settings: SettingsDep,
                        poll: Annotated[float, Query(ge=0.1, le=10, description="seconds between checks")] = 1.0,
                        duration: Annotated[float | None, Query(gt=0, le=86400,
                                                                description="close after this many seconds")] = None):
    """Server-sent events: every unresolved alert first, then each alert as it opens or changes.
    The event id is the alert's ``updated_at``; a reconnecting client sends it back as
    ``Last-Event-ID`` and receives what changed since (nothing is missed across a drop).

    The key is checked again every ``alert_stream_recheck_seconds``: revoked, offboarded or no longer
    ops, the stream ends with a ``closed`` event. A stream lasts at most ``alert_stream_max_seconds``
    (the client reconnects, authenticating again), and one key holds at most ``alert_streams_per_key``
    streams at once (429 beyond): ``app/streams.py``."""
    db = request.app.state.db
    last_seen = request.headers.get("last-event-id")
    try:
        since = datetime.fromisoformat(last_seen) if last_seen else None
    except ValueError:
        since = None

    async def fetch() -> list[str]:
        """Every alert that changed since the last event (every unresolved one on a fresh connect)."""
        nonlocal since
        async with db.session() as session:
            if since is None:
                alerts = [a for a in await service.list_alerts(session, state=None, limit=200, cursor=None)
                          if a.state != AlertState.RESOLVED]
            else:
                alerts = await service.list_alerts(session, state=None, limit=500, cursor=None, changed_since=since)
        frames = []
        for alert in sorted(alerts, key=lambda a: a.updated_at):
            frames.append(frame(alert.updated_at.isoformat(), "alert", AlertOut.of(alert).model_dump(mode="json")))
            since = alert.updated_at if since is None or alert.updated_at > since else since
        if since is None:
            since = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
        return frames

    return event_stream(request, fetch, settings=settings, token=bearer_token(request), roles=(Role.OPS,),
                        poll=poll, duration=duration)


@router.get("/guard/{campaign_id}")
async def guard_levels(campaign_id: str, session: SessionDep, settings: SettingsDep, _: OpsDep):
    """Where the spike guard stands for a campaign: the baseline, the rate bar and the count that
    would fire at the current delivered count (for charts)."""
    return await policy.guard_levels(session, await campaigns.get_campaign(session, campaign_id), settings)


async def _alert(alert_id: str, session: SessionDep, _: OpsDep) -> Alert:
    return await service.get_alert(session, alert_id, lock=True)


AlertDep = Annotated[Alert, Depends(_alert)]


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge(alert: AlertDep, session: SessionDep, user: OpsDep, body: CommentIn | None = None):
    return AlertOut.of(await service.acknowledge(session, alert, actor=user, comment=body.comment if body else None))


@router.post("/{alert_id}/resolve", response_model=AlertOut)
async def resolve(alert: AlertDep, session: SessionDep, user: OpsDep, body: CommentIn | None = None):
    return AlertOut.of(await service.resolve(session, alert, actor=user, comment=body.comment if body else None))
