"""Sign webhook posts exactly as Twilio does, with the twilio package's own validator."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

PUBLIC = "https://fineline.test"


def signed_post(client, path: str, params: dict[str, str], *, token: str = "test-auth-token", signature: str | None = None):
    sig = signature if signature is not None else sign(PUBLIC + path, params, token)
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return client.post(path, data=params, headers=headers)


def inbound(client, sid: str, phone: str, body: str, **kwargs):
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": phone,
              "To": "+15005550006", "Body": body, "NumMedia": "0"}
    return signed_post(client, "/webhooks/twilio/inbound", params, **kwargs)


async def apply_callbacks(db, settings) -> int:
    """Run the worker's status-callback applier until nothing stored is left pending (the API only
    stores callbacks; the worker applies them). Returns how many were applied."""
    from app.webhooks import status

    total = 0
    while True:
        async with db.unit_of_work() as session:
            applied = await status.apply_pending(session, settings=settings)
        if not applied:
            return total
        total += applied


def sign(url: str, params: dict[str, str], token: str = "test-auth-token") -> str:
    return RequestValidator(token).compute_signature(url, params)
