"""The inbox's rules, as pure functions (no database, no I/O): who may do what to a conversation,
who gets it, may this customer be texted, and when a reply may land.

Consent (DESIGN.md invariants 2 and 3, conversational form), in order:

1. Nothing goes to a number that opted out.
2. A customer who texted the company may be answered for ``reply_window`` after their last
   inbound message (24 hours unless configured) — that is not starting a conversation.
3. Otherwise only a person with active consent (subscribed to one of the company's lists) may be
   texted; starting a conversation always needs it.

Timing (invariant 7): a reply within ``texting_grace`` (15 minutes) of the customer's last message
goes now — they are texting; otherwise a reply that would land in their quiet hours waits for the
start of their window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.audience import quiet_hours
from app.vocab.roles import Role

#: Who sees the inbox and works in it; who may only read it.
WORKERS = (Role.AGENT, Role.OPS, Role.ADMIN)
READERS = (*WORKERS, Role.MARKETER, Role.REVIEWER)
#: Who may move a conversation that is someone else's.
SUPERVISORS = (Role.OPS, Role.ADMIN)


# --- consent --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    rule: str  # a stable code: opted_out | window_closed | no_consent
    message: str


def consent_refusal(*, opted_out: bool, has_consent: bool, last_inbound_at: datetime | None, now: datetime,
                    reply_window: timedelta, starting: bool) -> Refusal | None:
    """None when the text may go; otherwise the rule that refuses it."""
    if opted_out:
        return Refusal("opted_out", "the customer opted out (replied STOP or the like): nothing is sent to "
                                    "this number until they text START")
    if has_consent:
        return None
    if starting:
        return Refusal("no_consent", "starting a conversation needs the customer's active consent (subscribed to "
                                     "one of the company's lists); this number has none")
    if last_inbound_at is not None and now - last_inbound_at <= reply_window:
        return None
    hours = reply_window.total_seconds() / 3600
    if last_inbound_at is None:
        return Refusal("no_consent", "the customer never texted this number and has no active consent")
    return Refusal("window_closed", f"the customer's last message was more than {hours:g} hours ago and they have "
                                    "no active consent: only subscribers may be texted after the reply window")


# --- inbound media -------------------------------------------------------------------------------

MAX_MEDIA = 10  # Twilio delivers at most ten media items with one message


def media_of(params: dict[str, str]) -> list[dict[str, str]]:
    """The MMS items Twilio reported (``NumMedia``, ``MediaUrlN``, ``MediaContentTypeN``), as links to
    show. Fineline never fetches them: the customer's media stays at the provider."""
    try:
        count = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        return []
    items = []
    for index in range(max(count, 0)):
        url = params.get(f"MediaUrl{index}") or ""
        if url.startswith(("https://", "http://")):
            items.append({"url": url, "content_type": params.get(f"MediaContentType{index}") or ""})
    return items


# --- timing ---------------------------------------------------------------------------------------

def send_at(now: datetime, *, last_inbound_at: datetime | None, texting_grace: timedelta,
            zones: Sequence[str], window: quiet_hours.Window | None) -> datetime:
    """When a reply written ``now`` may land: now while the customer is texting or inside their window,
    else the start of their next window."""
    if last_inbound_at is not None and now - last_inbound_at <= texting_grace:
        return now
    return quiet_hours.next_window_start(now, zones, window)


@dataclass(frozen=True)
class BusinessHours:
    window: quiet_hours.Window
    zone: str
    days: frozenset[int]  # 0 = Monday

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.zone))
        return local.weekday() in self.days and self.window.contains(local.time())

    def local_day(self, moment: datetime):
        return moment.astimezone(ZoneInfo(self.zone)).date()


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_business_hours(hours: str, zone: str, days: str) -> BusinessHours | None:
    """"09:00-17:00" in ``zone`` on ``days`` ("mon,tue,..."); None for "off" (no auto-reply)."""
    window = quiet_hours.parse_window(hours)
    if window is None:
        return None
    ZoneInfo(zone)  # raises for an unknown zone
    picked = {part.strip().lower()[:3] for part in days.split(",") if part.strip()}
    unknown = picked - set(_DAYS)
    if unknown:
        raise ValueError(f"unknown business day(s) {', '.join(sorted(unknown))}; use mon,tue,wed,thu,fri,sat,sun")
    return BusinessHours(window, zone, frozenset(_DAYS.index(day) for day in picked))


def auto_reply_due(hours: BusinessHours | None, *, now: datetime, last_auto_reply_at: datetime | None) -> bool:
    """Outside business hours, one automatic reply per conversation per (company-local) day."""
    if hours is None or hours.is_open(now):
        return False
    return last_auto_reply_at is None or hours.local_day(last_auto_reply_at) != hours.local_day(now)


# --- routing and permissions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Agent:
    id: str
    active: bool
    available: bool
    last_assigned_at: datetime | None


def choose_assignee(last_assignee: Agent | None, agents: Sequence[Agent]) -> str | None:
    """The last assignee if still active; else round-robin among available agents (the one who got a
    conversation longest ago); else nobody (the unassigned queue)."""
    if last_assignee is not None and last_assignee.active:
        return last_assignee.id
    candidates = [a for a in agents if a.active and a.available]
    if not candidates:
        return None
    never = datetime.min.replace(tzinfo=UTC)
    return min(candidates, key=lambda a: (a.last_assigned_at or never, a.id)).id


def may_work(roles: Sequence[str]) -> bool:
    return any(role in WORKERS for role in roles)


def act_refusal(*, roles: Sequence[str], actor_id: str, assignee_id: str | None) -> str | None:
    """May this employee act on (reply in, snooze, resolve) the conversation? None, or why not."""
    if any(role in SUPERVISORS for role in roles):
        return None
    if Role.AGENT not in roles:
        return "only agents, ops and admins work in the inbox; your role may read it"
    if assignee_id is not None and assignee_id != actor_id:
        return "this conversation is another agent's; ops or an admin can reassign it"
    return None


def assign_refusal(*, roles: Sequence[str], actor_id: str, assignee_id: str | None, target_id: str | None) -> str | None:
    """Any agent may take an unassigned conversation or hand on their own; moving someone else's
    needs ops or admin."""
    refusal = act_refusal(roles=roles, actor_id=actor_id, assignee_id=assignee_id)
    if refusal:
        return refusal
    if any(role in SUPERVISORS for role in roles):
        return None
    if assignee_id is None and target_id not in (actor_id, None):
        return "an agent may take an unassigned conversation for themselves; assigning it to others needs ops or admin"
    return None


