"""The company's frequency cap, held right before sending (docs/design.md, "The frequency cap").

A marketing message takes a place under the cap of its phone number in the transaction that
re-checks its batch, before its send slot is reserved. For the batch's numbers, in phone order:

1. **lock** each number's ``contact_ledger`` row (one upsert: created on first use, locked either
   way), so every other worker re-checking the same number, for any campaign, waits for this
   transaction to commit;
2. **count** the number's contacts in the window: its messages whose ``contacted_at`` is inside it
   (read after the lock, so a place another worker took a moment ago is seen);
3. **take** a place (``contacted_at`` = now) for each message while the number has room; the rest
   are skipped with the reason ``frequency_cap``.

Two campaigns launched at the same moment therefore cannot both reach a number with room for one:
whichever re-check locks the number second sees the first one's place. A message that goes back to
the queue (a quiet-hours deferral, a missed slot, a 429) or is skipped gives its place back (its
``contacted_at`` is cleared with its outcome, ``send._record``); one whose outcome is unknown keeps it
(it may have been sent). A message that already holds a place (requeued by the reconciler) keeps it.

Each statement is driven by the batch's numbers or ids, one probe each, whatever the planner knows
(docs/performance.md; tests/test_hot_plans.py).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import datetime

from sqlalchemy import ARRAY, String, bindparam, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.company.policy import FrequencyCap
from app.db.upsert import insert_for
from app.dispatch.claim import Claimed
from app.models import ContactLedger, Message

#: Contacts of one number read at most (a cap allows at most 100 in a window): the LIMIT also keeps
#: each number's lookup its own subquery, which the planner cannot turn into a walk of the table.
MAX_CONTACTS = 1000

_MESSAGE = Message.__table__
_LEDGER = ContactLedger.__table__


@functools.cache
def _lock_statement(dialect: str):
    """Create-or-lock the ledger rows of the batch's numbers, in the order given (sorted)."""
    if dialect == "postgresql":
        phones = func.unnest(bindparam("phones", type_=ARRAY(String))).table_valued("phone").render_derived(
            name="batch")
        rows = select(phones.c.phone, bindparam("now", type_=_LEDGER.c.last_checked_at.type))
        statement = insert_for(dialect, _LEDGER).from_select(["phone", "last_checked_at"], rows)
    else:  # one writer at a time (BEGIN IMMEDIATE): executed once per number
        statement = insert_for(dialect, _LEDGER).values(phone=bindparam("phone"), last_checked_at=bindparam("now"))
    return statement.on_conflict_do_update(index_elements=["phone"],
                                           set_={"last_checked_at": statement.excluded.last_checked_at})


@functools.cache
def _contacts_statement(dialect: str):
    """(number, message id) of each contact of the batch's numbers inside the window."""
    since = bindparam("since", type_=_MESSAGE.c.contacted_at.type)
    if dialect == "postgresql":
        batch = func.unnest(bindparam("phones", type_=ARRAY(String))).table_valued("phone").render_derived(
            name="batch")
        one = (select(_MESSAGE.c.to, _MESSAGE.c.id)
               .where(_MESSAGE.c.to == batch.c.phone, _MESSAGE.c.contacted_at.is_not(None), _MESSAGE.c.contacted_at > since)
               .limit(MAX_CONTACTS).lateral("contact"))
        return select(one.c.to, one.c.id).select_from(batch).join(one, true())
    return (select(_MESSAGE.c.to, _MESSAGE.c.id)
            .where(_MESSAGE.c.to.in_(bindparam("phones", expanding=True)), _MESSAGE.c.contacted_at.is_not(None),
                   _MESSAGE.c.contacted_at > since))


@functools.cache
def _take_statement():
    """One place taken, executed for many (executemany): each a primary-key probe. (``id = ANY($1)``
    was read by a planner without statistics as a walk of the whole table: tests/test_hot_plans.py.)"""
    return (update(_MESSAGE).where(_MESSAGE.c.id == bindparam("b_id"))
            .values(contacted_at=bindparam("v_now", type_=_MESSAGE.c.contacted_at.type)))


async def reserve(session: AsyncSession, items: list[Claimed], cap: FrequencyCap, now: datetime) -> set[int]:
    """Take a place under ``cap`` for each of ``items`` (claimed marketing messages) that has room, in
    id order; returns the ids of those that have none (to be skipped). Locks the numbers' ledger rows
    until the caller's transaction ends: call it inside the batch's re-check transaction."""
    if not items:
        return set()
    dialect = session.get_bind().dialect.name
    phones = sorted({claimed.to for claimed in items})
    if dialect == "postgresql":
        await session.execute(_lock_statement(dialect), {"phones": phones, "now": now})
    else:
        await session.execute(_lock_statement(dialect), [{"phone": phone, "now": now} for phone in phones])
    contacts: dict[str, set[int]] = defaultdict(set)
    for phone, message_id in await session.execute(_contacts_statement(dialect),
                                                   {"phones": phones, "since": cap.since(now)}):
        contacts[phone].add(message_id)
    over: set[int] = set()
    taken: list[int] = []
    for claimed in sorted(items, key=lambda c: c.id):
        places = contacts[claimed.to]
        if claimed.id in places or cap.allows(len(places)):  # already its own place, or room for one
            places.add(claimed.id)
            taken.append(claimed.id)
        else:
            over.add(claimed.id)
    if taken:
        await session.execute(_take_statement(), [{"b_id": message_id, "v_now": now} for message_id in taken])
    return over
