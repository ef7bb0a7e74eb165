from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse

from app.audience import service as audience
from app.campaigns import confirmations, segments, service
from app.campaigns import testsend as test_sends
from app.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CheckOut,
    ConfirmationReviewOut,
    MessageOut,
    ReasonIn,
    ReviewIn,
    ReviewOut,
    TestCodeIn,
    TestNumberIn,
    TestNumberOut,
    TestSendIn,
)
from app.deps import (
    CurrentUser,
    MarketerDep,
    OpsOrMarketerDep,
    ProviderDep,
    ReviewerDep,
    SessionDep,
    SettingsDep,
    require,
)
from app.errors import Invalid, error_body
from app.models import Campaign, User
from app.pagination import Page, PageDep, page_of
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState
from app.vocab.roles import Role

router = APIRouter(prefix="/v1", tags=["campaigns"])
CheckerDep = Annotated[User, require(Role.MARKETER, Role.REVIEWER)]


async def _campaign(campaign_id: str, session: SessionDep, request: Request, _: CurrentUser) -> Campaign:
    # Authenticated first (an outsider learns nothing about ids); locked for changes, so two
    # concurrent changes (an edit and a review, say) apply one after the other.
    return await service.get_campaign(session, campaign_id, lock=request.method != "GET")


CampaignDep = Annotated[Campaign, Depends(_campaign)]


async def out(session, campaign: Campaign) -> dict:
    columns = {column.key: getattr(campaign, column.key) for column in Campaign.__table__.columns}
    data = CampaignOut.model_validate({**columns, "list_ids": await service.list_ids_of(session, campaign),
                                       "filter": campaign.audience_filter})
    data.test_sends = await test_sends.count(session, campaign.id)
    data.counts = await service.campaign_counts(session, campaign.id)
    return data.model_dump()


@router.post("/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
async def create_campaign(body: CampaignIn, session: SessionDep, marketer: MarketerDep):
    campaign = await service.create(
        session, name=body.name, sender_id=body.sender_id, list_ids=body.list_ids, body=body.body,
        scheduled_at=body.scheduled_at, rollout=body.rollout.model_dump() if body.rollout else None,
        spike_policy=body.spike_policy, transactional=body.transactional,
        segment_id=body.segment_id, filter_json=body.filter, actor=marketer)
    return await out(session, campaign)


@router.get("/campaigns", response_model=Page[CampaignOut])
async def list_campaigns(session: SessionDep, _: CurrentUser, page: PageDep,
                         state: CampaignState | None = None):
    result = page_of(await service.list_campaigns(session, limit=page.limit + 1, cursor=page.cursor, state=state), page)
    result["items"] = [await out(session, c) for c in result["items"]]
    return result


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign: CampaignDep, session: SessionDep, _: CurrentUser):
    return await out(session, campaign)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def edit_campaign(body: CampaignPatch, campaign: CampaignDep, session: SessionDep, marketer: MarketerDep):
    changes = body.model_dump(exclude_unset=True)
    if "rollout" in changes and body.rollout is not None:
        changes["rollout"] = body.rollout.model_dump()
    await service.edit(session, campaign, changes, actor=marketer)
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/check", response_model=CheckOut)
async def check_campaign(campaign: CampaignDep, session: SessionDep, _: CheckerDep, settings: SettingsDep,
                         samples: Annotated[int, Query(ge=0, le=20)] = 3):
    """The automated review findings, rendered samples, audience size and cost — no state change."""
    result = await service.evaluate(session, campaign, settings)
    info = segments.segment_info(result["sent_body"])  # as sent: each URL a tracked link when they are on
    audience = await service.audience_size(session, result["list_ids"], campaign.audience_filter)
    rows = await service.sample_recipients(session, result["list_ids"], limit=samples,
                                           filter_json=campaign.audience_filter)
    return {
        "findings": [service.finding_out(f) for f in result["findings"]],
        "blocking": bool(result["blocking"]),
        "full_body": result["full_body"],
        "segments": info.segments,
        "encoding": info.encoding,
        "audience": audience,
        "estimated_segments_total": audience * info.segments,
        "sent_body": result["sent_body"],
        "tracked_links": result["links"],
        "samples": [{"first_name": name, "text": service.sample_text(result["full_body"], settings, name, attrs)}
                    for name, attrs in rows],
        "placeholders": [{"name": name, "distinct_values": t.distinct,
                          "reviewed": "by value" if t.by_value else "by rule",
                          "examples": [value for value, _ in t.counts.most_common(5) if value]}
                         for name, t in sorted(result["tallies"].items())],
        "variants": [{"placeholder": v.placeholder, "value": v.value, "recipients": v.recipients, "text": v.text}
                     for v in result["variants"]],
    }


@router.post("/campaigns/{campaign_id}/submit", response_model=CampaignOut)
async def submit_campaign(campaign: CampaignDep, session: SessionDep, marketer: MarketerDep, settings: SettingsDep):
    await service.submit(session, campaign, actor=marketer, settings=settings)
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/review", response_model=CampaignOut)
async def review_campaign(body: ReviewIn, campaign: CampaignDep, session: SessionDep, reviewer: ReviewerDep,
                          settings: SettingsDep):
    await service.review(session, campaign, reviewer=reviewer, decision=body.decision, comment=body.comment,
                         settings=settings)
    return await out(session, campaign)


@router.get("/campaigns/{campaign_id}/reviews", response_model=list[ReviewOut])
async def list_reviews(campaign: CampaignDep, session: SessionDep, _: CurrentUser):
    return await service.list_reviews(session, campaign)


@router.post("/campaigns/{campaign_id}/launch", response_model=CampaignOut)
async def launch_campaign(campaign: CampaignDep, session: SessionDep, marketer: MarketerDep, settings: SettingsDep):
    await service.launch(session, campaign, actor=marketer, settings=settings)
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign: CampaignDep, session: SessionDep, user: OpsOrMarketerDep,
                         body: ReasonIn | None = None):
    await service.pause(session, campaign, actor=user, reason=(body.comment if body else None) or f"paused by {user.email}")
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(campaign: CampaignDep, session: SessionDep, user: OpsOrMarketerDep, settings: SettingsDep,
                          body: ReasonIn | None = None):
    await service.resume(session, campaign, actor=user, comment=body.comment if body else None, settings=settings)
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut)
async def cancel_campaign(campaign: CampaignDep, session: SessionDep, user: OpsOrMarketerDep,
                          body: ReasonIn | None = None):
    await service.cancel(session, campaign, actor=user, reason=body.comment if body else None)
    return await out(session, campaign)


@router.get("/campaigns/{campaign_id}/messages", response_model=Page[MessageOut])
async def list_messages(campaign: CampaignDep, session: SessionDep, _: OpsOrMarketerDep, page: PageDep,
                        state: MessageState | None = None):
    """Per-message state, provider SID and error code, in send order (keyset on the message id)."""
    if page.cursor and not page.cursor.isdigit():
        raise Invalid("cursor must be the next_cursor of a previous page", field="cursor")
    rows = await service.list_messages(session, campaign, limit=page.limit + 1,
                                       after=int(page.cursor) if page.cursor else None, state=state)
    return page_of(rows, page, key=lambda m: str(m.id))


@router.post("/campaigns/{campaign_id}/take-over", response_model=CampaignOut)
async def take_over_campaign(campaign: CampaignDep, session: SessionDep, marketer: MarketerDep):
    await service.take_over(session, campaign, actor=marketer)
    return await out(session, campaign)


@router.post("/campaigns/{campaign_id}/test-send")
async def test_send(body: TestSendIn, campaign: CampaignDep, session: SessionDep, user: CheckerDep,
                    provider: ProviderDep, settings: SettingsDep):
    """To the caller's own verified test numbers; the campaign's owner or a reviewer; rate-limited."""
    return await test_sends.send(session, campaign, to=body.to, actor=user, provider=provider, settings=settings)


@router.post("/me/test-numbers", response_model=TestNumberOut, status_code=status.HTTP_201_CREATED)
async def add_test_number(body: TestNumberIn, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                          provider: ProviderDep):
    """Register one of your own phones: a one-time code is texted to it; confirm it with …/verify."""
    return await test_sends.register_number(session, user, body.phone, settings, provider=provider,
                                            sender_id=body.sender_id)


@router.post("/me/test-numbers/{number_id}/verify", response_model=TestNumberOut)
async def verify_test_number(number_id: str, body: TestCodeIn, session: SessionDep, user: CurrentUser,
                             settings: SettingsDep):
    number, wrong = await test_sends.verify_number(session, user, number_id, body.code, settings)
    if wrong:  # answered, not raised: the session commits, so the spent attempt counts
        return JSONResponse(error_body("wrong_code", wrong, [{"field": "code", "message": wrong}]), status_code=422)
    return number


@router.delete("/me/test-numbers/{number_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_test_number(number_id: str, session: SessionDep, user: CurrentUser):
    await test_sends.remove_number(session, user, number_id)


@router.get("/me/test-numbers", response_model=list[TestNumberOut])
async def list_test_numbers(session: SessionDep, user: CurrentUser):
    return await test_sends.numbers_of(session, user)


@router.post("/lists/{list_id}/confirmation/check", response_model=ConfirmationReviewOut)
async def check_confirmation_text(list_id: str, session: SessionDep, _: CheckerDep, settings: SettingsDep):
    """The automated findings on a double opt-in list's own confirmation text, without a decision."""
    lst = await audience.get_list(session, list_id)
    return confirmation_out(lst, await confirmations.findings(session, lst, settings))


@router.post("/lists/{list_id}/confirmation/review", response_model=ConfirmationReviewOut)
async def review_confirmation_text(list_id: str, body: ReviewIn, session: SessionDep, reviewer: ReviewerDep,
                                   settings: SettingsDep):
    """Approve (or not) a list's own confirmation text; nobody is added to the list before approval."""
    lst = await audience.get_list(session, list_id, lock=True)
    found = await confirmations.review(session, lst, reviewer=reviewer, decision=body.decision, comment=body.comment,
                                       settings=settings)
    return confirmation_out(lst, found)


def confirmation_out(lst, found) -> dict:
    return {"list_id": lst.id, "confirmation_text": lst.confirmation_text,
            "findings": [service.finding_out(f) for f in found], "blocking": any(f.severity == "block" for f in found),
            "approved_at": lst.confirmation_approved_at, "approved_by_id": lst.confirmation_approved_by_id}
