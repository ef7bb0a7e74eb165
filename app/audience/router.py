from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse

from app.audience import consent, export, imports, service, signup
from app.audience.schemas import (
    AddedOut,
    DisclosureOut,
    ImportOut,
    ListIn,
    ListOut,
    MemberOut,
    SubscriberDetailOut,
    SubscriberIn,
    SubscriberOut,
    SubscriberPatch,
)
from app.deps import (
    AdminDep,
    AudienceReaderDep,
    CurrentUser,
    MarketerDep,
    OpsOrMarketerDep,
    SessionDep,
    SettingsDep,
)
from app.errors import Invalid
from app.models import SubscriberList
from app.ops.limits import grant_import_limit
from app.pagination import Page, PageDep, page_of
from app.vocab.audience import SubscriptionState

router = APIRouter(prefix="/v1", tags=["audience"])


async def _list(list_id: str, session: SessionDep, _: CurrentUser) -> SubscriberList:
    return await service.get_list(session, list_id)


ListDep = Annotated[SubscriberList, Depends(_list)]


async def _with_counts(session, lists: list[SubscriberList]) -> list[dict]:
    counts = await service.counts_by_state(session, [item.id for item in lists])
    words = await service.keywords_by_list(session, [item.id for item in lists])
    return [{**ListOut.model_validate(item).model_dump(), "counts": counts[item.id], "keywords": words[item.id]}
            for item in lists]


@router.post("/lists", response_model=ListOut, status_code=status.HTTP_201_CREATED)
async def create_list(body: ListIn, session: SessionDep, marketer: MarketerDep):
    lst = await service.create_list(session, name=body.name, opt_in=body.opt_in, sender_id=body.sender_id,
                                    confirmation_text=body.confirmation_text, actor=marketer, signup=body.signup())
    return (await _with_counts(session, [lst]))[0]


@router.get("/lists", response_model=Page[ListOut])
async def list_lists(session: SessionDep, _: AudienceReaderDep, page: PageDep):
    rows = await service.list_lists(session, limit=page.limit + 1, cursor=page.cursor)
    result = page_of(rows, page)
    result["items"] = await _with_counts(session, result["items"])
    return result


@router.get("/lists/{list_id}", response_model=ListOut)
async def get_list(lst: ListDep, session: SessionDep, _: AudienceReaderDep):
    return (await _with_counts(session, [lst]))[0]


@router.post("/lists/{list_id}/subscribers", response_model=AddedOut, status_code=status.HTTP_201_CREATED)
async def add_subscriber(body: SubscriberIn, lst: ListDep, session: SessionDep, marketer: MarketerDep,
                         settings: SettingsDep):
    subscriber, subscription, changed = await service.add_subscriber(
        session, lst, phone=body.phone, first_name=body.first_name, attributes=body.attributes,
        time_zone=body.time_zone, source=body.consent.source, evidence=body.consent.evidence,
        consented_at=body.consent.consented_at, ip=body.consent.ip, actor=marketer, settings=settings,
    )
    return {"subscriber": subscriber, "subscription": subscription, "changed": changed}


@router.get("/lists/{list_id}/subscribers", response_model=Page[MemberOut])
async def list_members(lst: ListDep, session: SessionDep, _: AudienceReaderDep, page: PageDep,
                       state: SubscriptionState | None = None):
    """The list's subscribers in id order, keyset pages (``cursor``: the last page's ``next_cursor``)."""
    rows = await service.list_members(session, lst, state=state, limit=page.limit + 1, after=page.cursor)
    result = page_of(rows, page, key=lambda row: row[0].id)
    result["items"] = [{**SubscriberOut.model_validate(subscriber).model_dump(),
                        "subscription": subscription} for subscriber, subscription in result["items"]]
    return result


@router.post("/lists/{list_id}/imports", response_model=ImportOut)
async def import_subscribers(request: Request, lst: ListDep, session: SessionDep, marketer: MarketerDep,
                             settings: SettingsDep):
    """CSV (text/csv, or a multipart file), a JSON array or NDJSON. Streamed; bad rows are reported.

    The key and the role were checked before a byte of the body was read (the dependencies above);
    only now may the body grow past the small limit every other request keeps."""
    grant_import_limit(request.scope, settings.max_import_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = next((value for value in form.values() if hasattr(value, "read")), None)
        if upload is None:
            raise Invalid("the multipart upload has no file part", field="file")
        spooled, kind = upload.file, "csv"
        spooled.seek(0)
    else:
        kind = {"text/csv": "csv", "application/csv": "csv", "application/json": "json",
                "application/x-ndjson": "json", "application/jsonl": "json"}.get(content_type)
        if kind is None:
            raise Invalid(f"unsupported content type {content_type or '(none)'!r}: send text/csv, application/json "
                          "or application/x-ndjson", field="content-type", code="unsupported_media_type")
        spooled = await imports.spool(request.stream(), settings.max_import_bytes)
    try:
        rows = imports.csv_rows(spooled) if kind == "csv" else imports.json_rows(spooled)
        return await imports.run(session, lst, rows, settings=settings, actor=marketer)
    finally:
        spooled.close()


@router.get("/lists/{list_id}/export", response_class=StreamingResponse)
async def export_evidence(request: Request, lst: ListDep, _: OpsOrMarketerDep):
    """The consent evidence pack for a dispute: every subscriber of the list with their history."""
    return StreamingResponse(
        export.evidence_csv(request.app.state.db, lst.id), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="consent-{lst.id}.csv"'},
    )


@router.get("/subscribers", response_model=Page[SubscriberOut])
async def find_subscribers(session: SessionDep, _: OpsOrMarketerDep, settings: SettingsDep,
                           phone: Annotated[str, Query(min_length=3, max_length=40,
                                                       description="a phone number in any format")]):
    """The subscriber with this number, however it is written ((415) 555-2671, +1 415-555-2671, …)."""
    return {"items": await service.find_by_phone(session, phone, settings), "next_cursor": None}


@router.patch("/subscribers/{subscriber_id}", response_model=SubscriberOut)
async def edit_subscriber(subscriber_id: str, body: SubscriberPatch, session: SessionDep, marketer: MarketerDep,
                          settings: SettingsDep):
    subscriber = await service.get_subscriber(session, subscriber_id, lock=True)
    return await service.edit_subscriber(session, subscriber, body.model_dump(exclude_unset=True), actor=marketer,
                                         settings=settings)


@router.get("/disclosures/{disclosure_id}", response_model=DisclosureOut)
async def get_disclosure(disclosure_id: str, session: SessionDep, _: OpsOrMarketerDep):
    """The exact disclosure text a sign-up form showed (a consent event's ``disclosure_id``)."""
    return await signup.get_disclosure(session, disclosure_id)


@router.get("/subscribers/{subscriber_id}", response_model=SubscriberDetailOut)
async def get_subscriber(subscriber_id: str, session: SessionDep, _: OpsOrMarketerDep):
    subscriber = await service.get_subscriber(session, subscriber_id)
    subscriptions, events = await service.history(session, subscriber)
    return {**SubscriberOut.model_validate(subscriber).model_dump(), "subscriptions": subscriptions,
            "consent_history": events,
            "suppressed": await consent.active_suppression(session, subscriber.phone) is not None}


@router.delete("/subscribers/{subscriber_id}", response_model=SubscriberOut)
async def erase_subscriber(subscriber_id: str, session: SessionDep, admin: AdminDep):
    subscriber = await service.get_subscriber(session, subscriber_id)
    return await service.erase(session, subscriber, actor=admin)
