from __future__ import annotations

from fastapi import APIRouter, Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from app.deps import SessionDep, SettingsDep
from app.webhooks import inbound, status
from app.webhooks.signature import verified_form

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])


def twiml(reply: str | None) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type="application/xml")


@router.post("/inbound", response_class=Response)
async def inbound_sms(request: Request, session: SessionDep, settings: SettingsDep):
    """An inbound SMS from Twilio. Answers TwiML; the opt-out is committed before this returns."""
    params = await verified_form(request, settings.public_base_url, settings.auth_token)
    result = await inbound.handle(session, params, settings)
    return twiml(result.reply)


@router.post("/status", response_class=Response)
async def status_callback(request: Request, session: SessionDep, settings: SettingsDep):
    """A message status callback: signature checked, stored once, applied monotonically."""
    params = await verified_form(request, settings.public_base_url, settings.auth_token)
    await status.handle(session, params, settings=settings, message_id=request.query_params.get("m"),
                        reply_id=request.query_params.get("r"))
    return Response(status_code=204)
