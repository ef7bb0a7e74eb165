"""Carrier registration: may this sender carry application-to-person traffic? Pure: no I/O.

US carriers block A2P SMS that is not registered, whatever the account owns:

* a 10DLC long code must sit in a Messaging Service whose A2P 10DLC campaign is verified and whose
  brand is approved (else Twilio error 30034);
* a toll-free number needs an approved toll-free verification (else 30032);
* a short code is approved when it is provisioned, so owning an active one is enough.

The provider asks Twilio for the resources (``app/providers/twilio.py``); the functions here turn
what Twilio answered into one ``Registration``: approved or not, the carrier-facing reason, what the
company must do, and the limits the registration sets (per-second rate, daily cap). Numbers outside
the US (and alphanumeric IDs) need no registration: nothing changes for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers

#: Send-time errors that mean "this sender may not carry A2P traffic any more": the sender is
#: suspended at once (its campaigns pause, ops are alerted) instead of failing message after message.
SENDER_NOT_REGISTERED_CODES: Mapping[int, str] = {
    30032: "toll-free number has not been verified",
    30034: "US A2P 10DLC: message from an unregistered number",
    30035: "US A2P 10DLC: message from a number still being configured for its A2P campaign",
    30036: "US A2P 10DLC: the A2P campaign is not active",
    30037: "US A2P 10DLC: the A2P campaign was suspended",
    21729: "the sender is not registered to send SMS to this country",
    30899: "the carrier blocked the traffic for a registration or compliance reason",
}

#: T-Mobile's daily cap per brand, by the brand tier Twilio reports in the A2P campaign's
#: ``rate_limits.tmobile.brand_tier``. The cap counts the brand's messages to T-Mobile subscribers
#: per Pacific-time day; we cannot tell a recipient's carrier, so the whole sender is held to it.
TMOBILE_DAILY_CAP_BY_TIER: Mapping[str, int] = {
    "TOP": 200_000,
    "HIGH": 40_000,
    "HIGH_MID": 40_000,
    "MID": 10_000,
    "LOW": 2_000,
    "LOW_MID": 2_000,
    "BASIC": 2_000,
    "SOLE_PROPRIETOR": 1_000,
}

APPROVED, PENDING, MISSING, REJECTED, SUSPENDED = "approved", "pending", "missing", "rejected", "suspended"


@dataclass(frozen=True)
class Registration:
    """The carriers' verdict on one sender, as the provider reports it."""

    state: str  # approved | pending | missing | rejected | suspended
    reason: str  # what the carriers see, in a sentence
    action: str = ""  # what the company must do about it
    mps: int | None = None  # the per-second rate the registration allows
    daily_cap: int | None = None  # messages per day the registration allows

    @property
    def approved(self) -> bool:
        return self.state == APPROVED

    def as_dict(self) -> dict:
        return {"state": self.state, "reason": self.reason, "action": self.action,
                "mps": self.mps, "daily_cap": self.daily_cap}


def requires_registration(address: str) -> bool:
    """US numbers carry A2P traffic only when registered; others (and short codes, alphanumeric IDs,
    service SIDs, judged by their pool) are judged by their own rules."""
    if not address.startswith("+"):
        return False
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(address)) == "US"
    except phonenumbers.NumberParseException:
        return False


def is_toll_free(address: str) -> bool:
    try:
        number = phonenumbers.parse(address)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE


def not_required(address: str) -> Registration:
    return Registration(APPROVED, f"{address} is outside the US: carrier registration does not apply")


def _limits(rate_limits: Mapping | None) -> tuple[int | None, int | None]:
    """(mps, daily cap) from Twilio's ``rate_limits`` of an A2P campaign, e.g.
    ``{"att": {"mps": 75, "msg_class": "A"}, "tmobile": {"brand_tier": "TOP"}}``."""
    if not isinstance(rate_limits, Mapping):
        return None, None
    rates = [carrier.get("mps") for carrier in rate_limits.values() if isinstance(carrier, Mapping)]
    rates = [int(rate) for rate in rates if isinstance(rate, int | float) and rate > 0]
    mps = min(rates) if rates else None
    tmobile = rate_limits.get("tmobile")
    cap = None
    if isinstance(tmobile, Mapping):
        if isinstance(tmobile.get("daily_cap"), int) and tmobile["daily_cap"] > 0:
            cap = tmobile["daily_cap"]
        elif isinstance(tmobile.get("brand_tier"), str):
            cap = TMOBILE_DAILY_CAP_BY_TIER.get(tmobile["brand_tier"].upper())
    return mps, cap


def long_code(address: str, *, service_sid: str | None, service_registered: bool | None,
              campaign_status: str | None, rate_limits: Mapping | None, brand_status: str | None,
              brand_failure: str | None = None) -> Registration:
    """A 10DLC long code: in a Messaging Service, with a verified A2P campaign of an approved brand."""
    if service_sid is None:
        return Registration(
            MISSING, f"{address} is in no Messaging Service: US carriers block A2P traffic from a 10DLC "
            "number that is not registered (Twilio error 30034)",
            "add the number to a Messaging Service that has an approved A2P 10DLC campaign")
    campaign = (campaign_status or "").upper()
    if not campaign:
        return Registration(
            MISSING, f"Messaging Service {service_sid} has no A2P 10DLC campaign: US carriers block its "
            "traffic (Twilio error 30034)", "register an A2P 10DLC campaign for the Messaging Service")
    brand = (brand_status or "").upper()
    if brand in {"FAILED", "SUSPENDED", "DELETION_PENDING", "DELETION_FAILED"}:
        why = f": {brand_failure}" if brand_failure else ""
        return Registration(SUSPENDED if brand == "SUSPENDED" else REJECTED,
                            f"the A2P brand of Messaging Service {service_sid} is {brand.lower()}{why}",
                            "correct the brand registration in the Twilio console and resubmit it")
    if campaign in {"FAILED", "SUSPENDED"}:
        return Registration(SUSPENDED if campaign == "SUSPENDED" else REJECTED,
                            f"the A2P 10DLC campaign of Messaging Service {service_sid} is {campaign.lower()}",
                            "correct the A2P campaign in the Twilio console and resubmit it")
    if campaign == "VERIFIED" and brand == "APPROVED" and service_registered is not False:
        mps, cap = _limits(rate_limits)
        return Registration(APPROVED, f"{address} is in Messaging Service {service_sid}, whose A2P 10DLC "
                            "campaign is verified and whose brand is approved", mps=mps, daily_cap=cap)
    waiting = (f"the A2P brand is {brand.lower().replace('_', ' ') or 'not known yet'}" if brand != "APPROVED"
               else f"the A2P 10DLC campaign is {campaign.lower().replace('_', ' ')}" if campaign != "VERIFIED"
               else "the service is still being configured for its A2P campaign (Twilio error 30035)")
    return Registration(PENDING, f"Messaging Service {service_sid} cannot carry A2P traffic yet: {waiting}",
                        "wait for the approval; the hourly re-check picks it up")


def toll_free(address: str, verifications: Iterable[Mapping]) -> Registration:
    """A toll-free number: the newest toll-free verification must be TWILIO_APPROVED."""
    newest = None
    for item in verifications:
        if newest is None or (item.get("date_updated") or "") > (newest.get("date_updated") or ""):
            newest = item
    if newest is None:
        return Registration(
            MISSING, f"{address} has no toll-free verification: carriers block unverified toll-free "
            "traffic (Twilio error 30032)", "submit a toll-free verification for the number")
    status = str(newest.get("status") or "").upper()
    if status == "TWILIO_APPROVED":
        return Registration(APPROVED, f"the toll-free verification of {address} is approved")
    if status in {"PENDING_REVIEW", "IN_REVIEW"}:
        return Registration(PENDING, f"the toll-free verification of {address} is {status.lower().replace('_', ' ')}",
                            "wait for the verification; the hourly re-check picks it up")
    reason = newest.get("rejection_reason") or "no reason given"
    code = f" (error {newest['error_code']})" if newest.get("error_code") else ""
    return Registration(REJECTED, f"the toll-free verification of {address} was rejected: {reason}{code}",
                        "correct the verification in the Twilio console and resubmit it"
                        if newest.get("edit_allowed", True) else "the rejection cannot be edited: open a new verification")


def pool(service_sid: str, verdicts: Mapping[str, Registration]) -> Registration:
    """A Messaging Service: the provider picks any number of its pool, so every one must be cleared."""
    blocked = {number: verdict for number, verdict in verdicts.items() if not verdict.approved}
    if blocked:
        first = next(iter(blocked.values()))
        names = ", ".join(sorted(blocked))
        return Registration(first.state, f"Messaging Service {service_sid} holds numbers carriers would block "
                            f"({names}): {first.reason}", first.action)
    rates = [verdict.mps for verdict in verdicts.values() if verdict.mps]
    caps = [verdict.daily_cap for verdict in verdicts.values() if verdict.daily_cap]
    return Registration(APPROVED, f"every number of Messaging Service {service_sid} is cleared by the carriers",
                        mps=min(rates) if rates else None, daily_cap=min(caps) if caps else None)
