"""The only code that talks to an SMS provider."""

from __future__ import annotations

from app.config import Settings
from app.providers.base import Provider, SenderCheck, SenderRefused, SentMessage


def build_provider(settings: Settings, **overrides) -> Provider:
    if settings.provider_name == "twilio":
        from app.providers.twilio import TwilioProvider

        overrides.setdefault("max_in_flight", settings.max_in_flight)  # the connection pool fits the pump
        return TwilioProvider(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token,
            api_base=settings.twilio_api_base,
            transport=settings.http_transport,
            **overrides,
        )
    from app.providers.sandbox import SandboxProvider

    overrides.setdefault("callback_delay", settings.sandbox_callback_delay)
    overrides.setdefault("failure_share", settings.sandbox_failure_share)
    return SandboxProvider(
        settings.owned_sandbox_senders, account_sid=settings.account_sid, auth_token=settings.auth_token, **overrides
    )


__all__ = ["Provider", "SenderCheck", "SenderRefused", "SentMessage", "build_provider"]
