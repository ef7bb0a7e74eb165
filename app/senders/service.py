"""Senders: register, verify with the provider (or a second admin), re-check, suspend, revoke, assign.

Every state change goes through ``_move``, which consults the lifecycle table and audits it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.service import open_alert
from app.audit.service import record
from app.campaigns import service as campaigns
from app.db.base import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound, ProviderFailed
from app.models import Sender, User
from app.pagination import keyset
from app.providers import registration
from app.providers.base import Provider
from app.providers.errors import ProviderError
from app.senders import addresses, lifecycle
from app.vocab.sender import SenderState

log = logging.getLogger(__name__)


async def get_sender(session: AsyncSession, sender_id: str, *, lock: bool = False) -> Sender:
    sender = await session.get(Sender, sender_id, with_for_update=lock or None)
    if sender is None:
        raise NotFound(f"no sender with id {sender_id}")
    return sender


async def list_senders(session: AsyncSession, *, limit: int, cursor: str | None, state: str | None = None) -> list[Sender]:
    return await keyset(session, Sender, limit=limit, cursor=cursor, where=[Sender.state == state] if state else ())


def _move(session: AsyncSession, sender: Sender, target: str, *, actor: User | None, reason: str) -> None:
    """The one place a sender's state changes."""
    try:
        lifecycle.check_move(sender.state, target)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from exc
    previous = sender.state
    now = utcnow()
    sender.state = target
    sender.state_reason = reason
    if target == SenderState.VERIFIED:
        sender.verified_at = now
        sender.suspended_at = None
    elif target == SenderState.SUSPENDED:
        sender.suspended_at = now
    elif target == SenderState.REVOKED:
        sender.revoked_at = now
    action = {SenderState.VERIFIED: "sender.verified", SenderState.SUSPENDED: "sender.suspended", SenderState.REVOKED: "sender.revoked",
              SenderState.UNREGISTERED: "sender.unregistered"}[target]
    record(session, action, actor=actor, target_type="sender", target_id=sender.id,
           previous=previous, state=target, reason=reason, address=sender.address)


async def register(
    session: AsyncSession, *, kind: str, address: str, label: str, mps: int | None, actor: User, region: str
) -> Sender:
    try:
        normalized = addresses.normalize(kind, address, region=region)
    except addresses.BadAddress as exc:
        raise Invalid(f"not a verified company sender: {exc}", field="address", code="not_a_company_sender") from exc
    existing = await session.scalar(select(Sender).where(Sender.address == normalized))
    if existing is not None:
        raise Conflict(f"{normalized} is already registered as sender {existing.id} ({existing.state})",
                       code="sender_exists", details={"sender_id": existing.id})
    sender = Sender(
        kind=kind,
        address=normalized,
        label=label.strip(),
        mps=mps or addresses.DEFAULT_MPS.get(kind, 1),
        mps_overridden=mps is not None,
        state=SenderState.PENDING,
        registered_by_id=actor.id,
        pool=[],
    )
    session.add(sender)
    await session.flush()
    record(session, "sender.registered", actor=actor, target_type="sender", target_id=sender.id,
           kind=kind, address=normalized, mps=sender.mps)
    return sender


async def verify(session: AsyncSession, sender: Sender, *, provider: Provider, actor: User) -> Sender:
    """Ask the provider (or, for an alphanumeric ID, take a second admin's confirmation).

    A pending sender the provider does not confirm stays pending and the caller gets a 422 with the
    reason; a verified one the provider no longer confirms is suspended (and that is the answer).
    """
    if sender.state == SenderState.REVOKED:
        raise Conflict(f"sender {sender.id} was revoked; a revoked sender cannot be verified again", code="illegal_transition")
    if sender.kind == "alphanumeric":
        return _confirm_alphanumeric(session, sender, actor=actor)
    return await recheck(session, sender, provider=provider, actor=actor, refuse_unowned=True)


def _confirm_alphanumeric(session: AsyncSession, sender: Sender, *, actor: User) -> Sender:
    if sender.registered_by_id == actor.id:
        raise Forbidden(
            f"an alphanumeric sender ID cannot be proven by the provider, so a second admin must confirm it; "
            f"you registered '{sender.address}' yourself"
        )
    if sender.is_verified:
        return sender
    sender.confirmed_by_id = actor.id
    sender.last_checked_at = utcnow()
    record(session, "sender.confirmed", actor=actor, target_type="sender", target_id=sender.id, address=sender.address)
    _move(session, sender, SenderState.VERIFIED, actor=actor, reason=f"confirmed by a second admin ({actor.email})")
    return sender


async def recheck(
    session: AsyncSession, sender: Sender, *, provider: Provider, actor: User | None, refuse_unowned: bool = False
) -> Sender:
    try:
        check = await provider.check_sender(sender.kind, sender.address)
    except ProviderError as exc:
        # No answer is not a "no": the state stays as it is, and the caller learns why.
        sender.last_checked_at = utcnow()
        raise ProviderFailed(f"could not ask the provider about {sender.address}: {exc}",
                             details={"provider_code": getattr(exc, "code", None)}) from exc
    # The provider call took time: decide on the sender's state as it is now, under a row lock, so a
    # revocation made meanwhile is never overwritten.
    await session.refresh(sender, with_for_update=True)
    if sender.state == SenderState.REVOKED:
        return sender
    sender.last_checked_at = utcnow()
    if check.owned:
        sender.provider_sid = check.provider_sid
        if sender.kind == "messaging_service":
            sender.pool = list(check.pool)
            if not sender.mps_overridden:
                sender.mps = addresses.pool_mps(sender.pool)
        registration = check.registration
        _apply_registration(sender, registration)
        if registration is None or registration.approved:
            if not sender.is_verified:
                _move(session, sender, SenderState.VERIFIED, actor=actor, reason=check.reason)
            return sender
        # Owned, but the carriers would block it: never verified (it could not deliver a campaign).
        why = f"not cleared by the carriers: {registration.reason}; to do: {registration.action}"
        if sender.is_verified:
            _move(session, sender, SenderState.SUSPENDED, actor=actor, reason=f"carrier registration {registration.state}: "
                  f"{registration.reason}")
            await session.flush()
            await on_suspended(session, sender)
        elif sender.state == SenderState.PENDING:
            _move(session, sender, SenderState.UNREGISTERED, actor=actor, reason=why)
        elif sender.state_reason != why:
            sender.state_reason = why
            record(session, "sender.registration_checked", actor=actor, target_type="sender", target_id=sender.id,
                   registration=registration.as_dict())
        return sender
    if sender.is_verified:
        _move(session, sender, SenderState.SUSPENDED, actor=actor, reason=f"the provider no longer confirms it: {check.reason}")
        await session.flush()
        await on_suspended(session, sender)
        return sender
    if refuse_unowned:
        # Nothing changed (a pending sender stays pending), so nothing is lost by the rollback.
        raise Invalid(f"{sender.address} is not a verified company sender: {check.reason}",
                      field="address", code="not_a_company_sender")
    return sender


def _apply_registration(sender: Sender, registration) -> None:
    """Keep the carriers' verdict on the sender, and let its limits become the sender's: the
    registration's rate sets the MPS (an admin may only lower it), its daily cap holds across workers."""
    sender.registration = registration.as_dict() if registration is not None else None
    sender.daily_cap = registration.daily_cap if registration is not None else None
    if registration is not None and registration.mps:
        sender.mps = min(sender.mps, registration.mps) if sender.mps_overridden else registration.mps


async def on_suspended(session: AsyncSession, sender: Sender) -> list[str]:
    """What follows a suspension or revocation: the campaigns using the sender pause (docs/design.md,
    sender lifecycle). A suspension also opens a ``sender_suspended`` alert for ops."""
    paused = []
    for campaign in await campaigns.active_for_sender(session, sender.id):
        await campaigns.pause(session, campaign, actor=None,
                              reason=f"sender {sender.address} is {sender.state}: {sender.state_reason}")
        paused.append(campaign.id)
    if sender.state == SenderState.SUSPENDED:
        await open_alert(session, "sender_suspended", sender_id=sender.id,
                         action=f"paused {len(paused)} campaign(s)" if paused else "none",
                         metrics={"paused_campaigns": paused},
                         message=f"Sender {sender.address} ({sender.label}) was suspended: {sender.state_reason}")
    return paused


async def suspend_for_carrier_error(session: AsyncSession, sender_id: str, code: int) -> bool:
    """A send failed with an error that means the carriers no longer accept this sender's traffic
    (not registered, campaign suspended: ``registration.SENDER_NOT_REGISTERED_CODES``). Suspend it at
    once — its campaigns pause and ops get a ``sender_suspended`` alert — instead of failing message
    after message. Idempotent: the first such error suspends, the rest find it suspended."""
    sender = await session.get(Sender, sender_id, with_for_update=True, populate_existing=True)
    if sender is None or not sender.is_verified:
        return False
    meaning = registration.SENDER_NOT_REGISTERED_CODES.get(code, "the carriers refused the sender")
    _move(session, sender, SenderState.SUSPENDED, actor=None,
          reason=f"carrier error {code}: {meaning}; fix the registration with the provider, then verify the sender again")
    await session.flush()
    await on_suspended(session, sender)
    return True


async def revoke(session: AsyncSession, sender: Sender, *, actor: User, reason: str | None) -> Sender:
    _move(session, sender, SenderState.REVOKED, actor=actor, reason=reason or f"revoked by {actor.email}")
    await session.flush()
    await on_suspended(session, sender)
    return sender


async def update(session: AsyncSession, sender: Sender, *, actor: User, label: str | None, mps: int | None) -> Sender:
    changes = {}
    if label is not None:
        sender.label = label.strip()
        changes["label"] = sender.label
    if mps is not None:
        allowed = (sender.registration or {}).get("mps")
        if allowed and mps > allowed:
            raise Invalid(f"the carriers' registration of {sender.address} allows at most {allowed} messages "
                          "per second; an admin may lower the rate, not raise it above that", field="mps",
                          code="above_registered_rate")
        changes["mps"] = {"from": sender.mps, "to": mps}
        sender.mps = mps
        sender.mps_overridden = True
    if changes:
        record(session, "sender.updated", actor=actor, target_type="sender", target_id=sender.id, **changes)
    await session.flush()
    return sender


async def assign(session: AsyncSession, sender: Sender, *, user: User | None, actor: User) -> Sender:
    if sender.state == SenderState.REVOKED:
        raise Conflict(f"sender {sender.id} was revoked and cannot be assigned", code="illegal_transition")
    if user is not None and not user.active:
        raise Conflict(f"user {user.id} was offboarded; senders cannot be assigned to them", code="user_offboarded")
    previous = sender.assigned_to_id
    sender.assigned_to_id = user.id if user else None
    record(session, "sender.assigned", actor=actor, target_type="sender", target_id=sender.id,
           previous=previous, assigned_to=sender.assigned_to_id)
    await session.flush()
    return sender


async def return_assignments(session: AsyncSession, user: User, *, actor: User) -> list[Sender]:
    """Offboarding: every sender assigned to ``user`` goes back to the company pool."""
    senders = list((await session.scalars(select(Sender).where(Sender.assigned_to_id == user.id).order_by(Sender.id))).all())
    for sender in senders:
        sender.assigned_to_id = None
        record(session, "sender.assigned", actor=actor, target_type="sender", target_id=sender.id,
               previous=user.id, assigned_to=None, reason="offboarding")
    await session.flush()
    return senders


async def due_for_recheck(session: AsyncSession, *, now: datetime, every: timedelta, limit: int = 100) -> list[Sender]:
    cutoff = now - every
    query = (
        select(Sender)
        .where(Sender.state.in_((SenderState.VERIFIED, SenderState.UNREGISTERED)), Sender.kind != "alphanumeric")
        .where(or_(Sender.last_checked_at.is_(None), Sender.last_checked_at <= cutoff))
        .order_by(Sender.last_checked_at.nulls_first(), Sender.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def recheck_due(session: AsyncSession, *, provider: Provider, now: datetime, every: timedelta) -> dict[str, int]:
    """The worker's periodic re-verification. A provider outage skips a sender; it never suspends one."""
    counts = {"checked": 0, "suspended": 0, "unreachable": 0, "unregistered": 0}
    for sender in await due_for_recheck(session, now=now, every=every):
        try:
            await recheck(session, sender, provider=provider, actor=None)
        except ProviderFailed as exc:
            counts["unreachable"] += 1
            log.warning("sender re-check skipped: %s", exc.message)
            continue
        counts["checked"] += 1
        counts["suspended"] += sender.state == SenderState.SUSPENDED
        counts["unregistered"] += sender.state == SenderState.UNREGISTERED
    await session.flush()
    return counts
