"""Twilio webhook signatures, checked with the twilio package's own RequestValidator.

The URL is rebuilt from FINELINE_PUBLIC_BASE_URL (where Twilio reaches us) plus the request's path
and query — never from the request's own Host, which a proxy or an attacker controls.

Twilio's signing string is the URL followed by each parameter's name and value with no separators,
so a captured callback for ``…/status?m=1234`` also signs ``…/status?m=12`` with a first parameter
named ``34AccountSid``. Twilio's own parameter names are ASCII words starting with a capital letter
(``MessageSid``, ``MediaUrl0``): any other name is refused before the signature is even checked.
"""

from __future__ import annotations

import re

from fastapi import Request
from twilio.request_validator import RequestValidator

from app.errors import AppError, Forbidden

TWILIO_PARAMETER_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")


def signed_url(request: Request, public_base_url: str) -> str:
    query = request.url.query
    return f"{public_base_url}{request.url.path}" + (f"?{query}" if query else "")


async def verified_form(request: Request, public_base_url: str, auth_token: str) -> dict[str, str]:
    """The form parameters of a genuine Twilio request, or 403 (and nothing is stored)."""
    signature = request.headers.get("x-twilio-signature")
    if not auth_token:  # never check with "": anyone can sign with a key everybody knows
        raise Forbidden("no webhook token is configured; webhooks cannot be checked", code="bad_signature")
    if not signature:
        raise Forbidden("missing X-Twilio-Signature", code="bad_signature")
    try:
        form = await request.form()
    except Exception as exc:  # malformed bodies are forgeries as far as we are concerned
        raise Forbidden("the webhook body could not be read as a form", code="bad_signature") from exc
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    odd = next((key for key in params if not TWILIO_PARAMETER_NAME.fullmatch(key)), None)
    if odd is not None:
        raise AppError(f"{odd[:64]!r} is not a Twilio parameter name; webhooks carry only Twilio's own "
                       "parameters (a capital letter, then letters and digits)", code="bad_parameter_name")
    if not RequestValidator(auth_token).validate(signed_url(request, public_base_url), params, signature):
        raise Forbidden("X-Twilio-Signature does not match this request", code="bad_signature")
    # Genuine, but NUL characters cannot be stored (PostgreSQL text): drop them, keep the message.
    return {key.replace("\x00", ""): value.replace("\x00", "") for key, value in params.items()}
