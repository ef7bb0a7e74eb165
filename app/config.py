"""One Settings object, read from the environment (prefix ``FINELINE_``).

The names follow the "Configuration" table of docs/api.md. Local defaults are safe: an SQLite file in the
working directory, the sandbox provider, the worker inside the API process.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.vocab.opt_out import DEFAULT_OPT_OUT_TEXT

_PROCESS_TOKEN = secrets.token_urlsafe(32)
_QUIET_HOURS = re.compile(r"^(off|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)$")


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8, ::1 or an unspecified address (0.0.0.0, ::): this machine only."""
    host = (host or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINELINE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./fineline.db"
    provider: Literal["sandbox", "twilio"] | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base: str = "https://api.twilio.com"
    public_base_url: str = "http://127.0.0.1:8000"
    sandbox_owned_numbers: str = "+15005550006"
    worker: Literal["inline", "off"] | None = None
    quiet_hours: str = "08:00-21:00"

    # Beyond the docs/api.md table: operational knobs with sensible defaults.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_import_bytes: int = Field(default=200 * 1_048_576, ge=1024)
    metrics_token: SecretStr | None = None  # bearer token for /metrics; unset: loopback clients only
    idempotency_ttl_hours: float = Field(default=24, gt=0)  # stored answers older than this are not replayed
    default_region: str = "US"
    brand_name: str = "Fineline Demo Co"
    help_contact: str = "support@example.com"
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # Content review policy (app/campaigns/content.py).
    append_opt_out: bool = False
    opt_out_text: str = DEFAULT_OPT_OUT_TEXT
    require_brand: bool = False
    shaft_blocks: bool = False
    company_contacts: str = ""  # comma-separated emails, domains and numbers a body may mention
    # Test sends (app/campaigns/testsend.py): proven numbers, a cap per employee, a rate per hour.
    test_numbers_per_user: int = Field(default=5, ge=1)
    test_code_ttl_seconds: int = Field(default=600, ge=30)
    test_code_attempts: int = Field(default=5, ge=1)
    test_sends_per_hour: int = Field(default=20, ge=1)
    sender_recheck_seconds: int = Field(default=3600, ge=1)
    log_level: str = "INFO"
    # The unsubscribe-spike guard and alerts.
    attribution_hours: int = Field(default=72, ge=1)
    baseline_prior: float = Field(default=0.005, gt=0, lt=1)
    baseline_campaigns: int = Field(default=20, ge=1)
    spike_min_opt_outs: int = Field(default=5, ge=1)
    spike_multiple: float = Field(default=3.0, gt=1)
    spike_alpha: float = Field(default=0.001, gt=0, lt=1)
    spike_ceiling: float = Field(default=0.02, gt=0, lt=1)
    failure_min: int = Field(default=20, ge=1)
    failure_baseline: float = Field(default=0.02, gt=0, lt=1)
    failure_multiple: float = Field(default=3.0, gt=1)
    failure_ceiling: float = Field(default=0.15, gt=0, lt=1)
    ops_webhook_url: str | None = None
    alert_stream_recheck_seconds: float = Field(default=5.0, gt=0, le=60)  # the key is checked again this often
    alert_stream_max_seconds: float = Field(default=3600.0, gt=0)  # then the client reconnects (and re-authenticates)
    alert_streams_per_key: int = Field(default=3, ge=1)  # open streams one key may hold, per API process
    # The frequency cap's default until an admin saves the company's own (PUT /v1/settings): at most
    # this many marketing messages per phone number in any window of this many hours; 0 messages: no cap.
    frequency_cap_messages: int = Field(default=1, ge=0, le=100)
    frequency_cap_hours: float = Field(default=16, gt=0, le=168)
    canary_default_percent: float = Field(default=10.0, gt=0, lt=100)
    canary_default_minutes: int = Field(default=30, ge=1)
    # Tracked links (app/links): every URL of a campaign is sent as <link_domain>/<token> when set.
    link_domain: str | None = None  # e.g. https://acme.link, served by the API process (GET /<token>)
    link_ttl_days: float = Field(default=90, gt=0)  # a link answers 404 after this long
    link_preview_seconds: float = Field(default=10, ge=0)  # a click this soon after delivery is a previewer's
    link_click_batch: int = Field(default=500, ge=1, le=10_000)  # clicks written per INSERT
    link_click_buffer: int = Field(default=50_000, ge=100)  # clicks waiting beyond this are dropped, never the redirect
    link_cache_size: int = Field(default=100_000, ge=0)  # resolved links kept in memory per process
    # Dispatch.
    batch_size: int = Field(default=500, ge=1, le=5000)
    # Provider calls a worker keeps open at once: throughput ~= in flight / (latency + claim-to-send).
    # Lower it if the Twilio account answers 429 / 20429 for concurrency (those are backed off anyway).
    max_in_flight: int = Field(default=512, ge=1, le=4096)
    lease_seconds: int = Field(default=120, ge=40)  # > dispatch.send.LEASE_MARGIN: at least 5 s to send
    unknown_grace_seconds: int = Field(default=60, ge=0)
    sandbox_callback_delay: float = Field(default=1.0, ge=0)
    sandbox_failure_share: float = Field(default=0.03, ge=0, le=1)
    # The campaign report (app/reports/): its estimated cost, per billed SMS segment.
    price_per_segment: float = Field(default=0.0083, ge=0, le=10)
    price_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # The company inbox (app/inbox/policy.py).
    inbox_reply_window_hours: float = Field(default=24, gt=0, le=24 * 30)  # answer a customer this long after
    inbox_texting_grace_minutes: float = Field(default=15, ge=0, le=24 * 60)  # "they are texting": send now
    business_hours: str = "off"  # "09:00-17:00": outside them an inbound message gets one auto-reply a day
    business_time_zone: str = "America/New_York"
    business_days: str = "mon,tue,wed,thu,fri"
    auto_reply_text: str = "Thanks for your message. We're closed right now and will answer when we open."
    # Self sign-up (app/audience/signup.py, app/signup/): where the company serves, and the abuse limits.
    served_countries: str = "US,CA"  # ISO regions; a number from elsewhere gets no subscription and no text
    signup_per_ip_per_hour: int = Field(default=10, ge=1)  # web-form submissions from one address
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto ``fineline serve`` believes (addresses or
    # networks, comma-separated; "*" for any): behind them a request's client address is the one they
    # forwarded (the sign-up form's per-IP limit, the consent record's IP, /metrics' loopback rule).
    trusted_proxies: str = "127.0.0.1,::1"
    signup_per_number_per_day: int = Field(default=3, ge=1)  # web-form sign-ups of one number

    @field_validator("provider", "worker", "twilio_account_sid", "twilio_auth_token", "ops_webhook_url",
                     "metrics_token", mode="before")
    @classmethod
    def _empty_is_missing(cls, value):
        """docker-compose passes "" for a variable that is unset: "" is no value, never a key ("")."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            return None
        return value

    @field_validator("quiet_hours", "business_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        if not _QUIET_HOURS.match(value.strip()):
            raise ValueError("must be 'HH:MM-HH:MM' (e.g. 08:00-21:00) or 'off'")
        return value.strip()

    @field_validator("public_base_url", "twilio_api_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_shape(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8); "
                                 "list addresses or networks separated by commas, or '*'") from None
        return ",".join(entries)

    @field_validator("link_domain", mode="before")
    @classmethod
    def _link_domain_shape(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        parts = urlsplit(str(value).strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
                or parts.fragment or parts.username:
            raise ValueError("must be a scheme and a host only, e.g. https://acme.link")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def provider_name(self) -> str:
        """The provider in force: explicit setting, else twilio when credentials are set."""
        if self.provider:
            return self.provider
        has_credentials = bool(self.twilio_account_sid and self.twilio_auth_token)
        return "twilio" if has_credentials else "sandbox"

    @property
    def worker_mode(self) -> str:
        return self.worker or ("inline" if self.is_sqlite else "off")

    @model_validator(mode="after")
    def _twilio_needs_a_token(self) -> Settings:
        if self.provider == "twilio" and not (self.twilio_account_sid and self.twilio_auth_token):
            raise ValueError("FINELINE_PROVIDER=twilio needs FINELINE_TWILIO_ACCOUNT_SID and FINELINE_TWILIO_AUTH_TOKEN")
        return self

    @property
    def public_url_is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.public_base_url).hostname)

    def startup_problem(self) -> str | None:
        """Why ``fineline serve`` or ``fineline worker`` must not start with these settings, or None.

        The embedded default (SQLite and the sandbox) starts with nothing set. Anything else names its
        provider and its webhook token explicitly: a service that fell back to the sandbox, or signed
        webhooks with a per-process or well-known token, would drop real texts or accept forged
        START/YES and status callbacks. Twilio must reach a public URL: on a loopback one every real
        STOP would be refused (its signature is checked against that URL). A local Twilio-compatible
        server (FINELINE_TWILIO_API_BASE on loopback, as the benchmarks run) may call back locally."""
        if not (self.is_sqlite and self.provider_name == "sandbox"):
            if self.provider is None:
                return ("FINELINE_PROVIDER is not set: outside the embedded default (SQLite and the sandbox) name "
                        "the provider explicitly (twilio, or sandbox for a trial)")
            if self.twilio_auth_token is None:
                return ("FINELINE_TWILIO_AUTH_TOKEN is not set (or empty): outside the embedded default every "
                        "process needs the same explicit token to sign and check webhooks")
        talks_to_twilio = not is_loopback_host(urlsplit(self.twilio_api_base).hostname)  # not a local stand-in
        if self.provider_name == "twilio" and self.public_url_is_loopback and talks_to_twilio:
            return (f"FINELINE_PUBLIC_BASE_URL is {self.public_base_url}, a loopback address Twilio cannot reach: "
                    "set the public URL Twilio posts webhooks to (signatures are checked against it)")
        return None

    @property
    def auth_token(self) -> str:
        """The token that signs webhooks. Without one (sandbox only) each process makes a random one,
        so nobody can forge a webhook with a well-known token; run several sandbox processes against
        one database only with FINELINE_TWILIO_AUTH_TOKEN set."""
        if self.twilio_auth_token is not None:
            return self.twilio_auth_token.get_secret_value()
        return _PROCESS_TOKEN

    @property
    def account_sid(self) -> str:
        return self.twilio_account_sid or "AC" + "0" * 32

    @property
    def owned_sandbox_senders(self) -> list[str]:
        return [part.strip() for part in self.sandbox_owned_numbers.split(",") if part.strip()]

    @property
    def served_regions(self) -> frozenset[str]:
        """The countries (phonenumbers regions) whose numbers may sign themselves up."""
        return frozenset(part.strip().upper() for part in self.served_countries.split(",") if part.strip())


def get_settings() -> Settings:
    return Settings()
