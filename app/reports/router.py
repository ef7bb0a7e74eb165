"""The campaign report: ``GET /v1/campaigns/{id}/report`` and its per-recipient CSV."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.campaigns.service import get_campaign
from app.deps import CurrentUser, OpsOrMarketerDep, SessionDep, SettingsDep
from app.reports import export, service
from app.reports.schemas import ReportOut

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/campaigns/{campaign_id}/report", response_model=ReportOut)
async def campaign_report(campaign_id: str, session: SessionDep, settings: SettingsDep, _: CurrentUser):
    """What people did with the campaign; readable by every role that may read the campaign."""
    campaign = await get_campaign(session, campaign_id)
    return await service.campaign_report(session, campaign, settings)


@router.get("/campaigns/{campaign_id}/report.csv", response_class=StreamingResponse)
async def campaign_report_csv(campaign_id: str, request: Request, session: SessionDep, settings: SettingsDep,
                              _: OpsOrMarketerDep):
    """One row per recipient (phones: the roles that may list the campaign's messages)."""
    campaign = await get_campaign(session, campaign_id)
    return StreamingResponse(
        export.outcome_csv(request.app.state.db, campaign.id, campaign.sender_id, settings), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="report-{campaign.id}.csv"'})
