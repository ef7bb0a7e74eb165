"""Twilio webhook signatures, checked with the twilio package's own RequestValidator.

The URL is rebuilt from FINELINE_PUBLIC_BASE_URL (where Twilio reaches us) plus the request's path
and query — never from the request's own Host, which a proxy or an attacker controls. The status
callback URL's fragment (Twilio's connection overrides, ``#rc=…&rp=…``) never reaches us and is not
part of what Twilio signs.

Twilio's signing string is the URL followed by each parameter's name and value with no separators,
so a captured callback for ``…/status?m=1234`` also signs ``…/status?m=12`` with a first parameter
named ``34AccountSid``. Twilio's own parameter names are ASCII words starting with a capital letter
(``MessageSid``, ``MediaUrl0``): any other name is refused before the signature is even checked.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port

from app.errors import AppError, Forbidden

TWILIO_PARAMETER_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")


def signed_url(public_base_url: str, path: str, query: str) -> str:
    return f"{public_base_url}{path}" + (f"?{query}" if query else "")


def form_params(body: bytes, content_type: str) -> dict[str, str]:
    """A form-encoded body as Twilio sends it (the last of repeated names wins, as Starlette's form)."""
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise Forbidden("the webhook body could not be read as a form", code="bad_signature")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:  # malformed bodies are forgeries as far as we are concerned
        raise Forbidden("the webhook body could not be read as a form", code="bad_signature") from exc


def verified(url: str, params: dict[str, str], signature: str | None, auth_token: str) -> dict[str, str]:
    """The parameters of a genuine Twilio request, or 403 (and nothing is stored)."""
    if not auth_token:  # never check with "": anyone can sign with a key everybody knows
        raise Forbidden("no webhook token is configured; webhooks cannot be checked", code="bad_signature")
    if not signature:
        raise Forbidden("missing X-Twilio-Signature", code="bad_signature")
    odd = next((key for key in params if not TWILIO_PARAMETER_NAME.fullmatch(key)), None)
    if odd is not None:
        raise AppError(f"{odd[:64]!r} is not a Twilio parameter name; webhooks carry only Twilio's own "
                       "parameters (a capital letter, then letters and digits)", code="bad_parameter_name")
    if not _genuine(url, params, signature, auth_token):
        raise Forbidden("X-Twilio-Signature does not match this request", code="bad_signature")
    # Genuine, but NUL characters cannot be stored (PostgreSQL text): drop them, keep the message.
    return {key.replace("\x00", ""): value.replace("\x00", "") for key, value in params.items()}


@lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def _genuine(url: str, params: dict[str, str], signature: str, auth_token: str) -> bool:
    """``RequestValidator.validate`` for a form body, with the same answer for less work.

    ``validate`` computes both signatures Twilio may have used (the URL without and with its default
    port, since Twilio's signing is inconsistent about it) and accepts either. Twilio signs the URL it
    was given, so that form (with the port when it has one, without when it has none) is computed
    first and the other only when it does not match — one HMAC per genuine callback instead of two
    (validate took a quarter of a callback's CPU under a full-speed send). Both come from twilio's
    own ``compute_signature``, ``add_port``/``remove_port`` and constant-time ``compare``.
    """
    validator, parsed = _validator(auth_token), urlparse(url)
    # the URL as configured first (with its port when it has one), the other form only when it fails
    first, second = (add_port, remove_port) if parsed.port else (remove_port, add_port)
    return (compare(validator.compute_signature(first(parsed), params), signature)
            or compare(validator.compute_signature(second(parsed), params), signature))
