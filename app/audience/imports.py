"""Bulk import of consenting subscribers: CSV or JSON, streamed, in bounded memory.

The upload is spooled to a temporary file (memory up to 1 MiB, then disk) and read row by row in
batches of ``BATCH`` — each batch costs a handful of set-based queries, never a query per row.
Every row is judged on its own: a bad row is reported with its number and reason and never stops
the good ones. Rules:

- consent is required: ``consent_source`` (a ``ConsentSource``), ``consent_evidence`` (the
  disclosure shown or the form URL) and ``consented_at``; a row without them is rejected;
- numbers are normalised to E.164; duplicates (in the file or already on the list) merge;
- a number on the suppression list is rejected ("opted out on DATE"): an import never resubscribes;
- re-importing the same file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import attributes as attribute_rules
from app.audience import phones, texts
from app.audience.service import require_reviewed_confirmation
from app.audit.service import record
from app.config import Settings
from app.db import statistics
from app.db.base import new_id, utcnow
from app.errors import Invalid, PayloadTooLarge
from app.models import ConsentEvent, OutboundText, Subscriber, SubscriberList, Subscription, Suppression, User
from app.vocab.audience import ConsentSource, SubscriptionState
from app.vocab.message import MessageState

BATCH = 1000
COMMIT_EVERY = 5  # batches
MAX_REJECTIONS_LISTED = 1000
MAX_FIELD = 10_000
_SOURCES = tuple(ConsentSource)
MAX_ROW_CHARS = 1 << 20  # one row (a CSV or NDJSON line, an array element) held in memory at most
REQUIRED = ("phone", "consent_source", "consent_evidence", "consented_at")
KNOWN = {*REQUIRED, "first_name", "time_zone", "consent_ip"}

#: The columns' sizes in the schema: a longer value is a bad row, never a failed import.
COLUMN_LIMITS = {"phone": 40, "first_name": 200, "time_zone": 64, "consent_ip": 64, "consent_source": 16}

csv.field_size_limit(MAX_FIELD * 10)


@dataclass
class Report:
    accepted: int = 0
    created: int = 0
    unchanged: int = 0
    rejected_count: int = 0
    rejected: list[dict] = field(default_factory=list)

    def reject(self, row: int, phone: str | None, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_LISTED:
            self.rejected.append({"row": row, "phone": phone, "reason": reason})

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "created": self.created,
            "unchanged": self.unchanged,
            "rejected_count": self.rejected_count,
            "rejected": self.rejected,
            "rejected_truncated": self.rejected_count > len(self.rejected),
        }


@dataclass
class Row:
    number: int
    phone: str
    first_name: str | None
    attributes: dict
    time_zone: str | None
    source: str
    evidence: str
    consented_at: datetime
    ip: str | None


async def spool(chunks: AsyncIterator[bytes], limit: int) -> tempfile.SpooledTemporaryFile:
    spooled = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - the caller closes it
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise PayloadTooLarge(f"the import is larger than the limit of {limit} bytes")
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


def _parse_time(value: str) -> datetime:
    value = value.strip()
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"consented_at {value[:40]!r} is not an ISO 8601 date or time") from exc
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"consented_at {value[:40]!r} is out of range") from exc
    if not 1970 <= parsed.year <= 2200:
        raise ValueError(f"consented_at {value[:40]!r} is out of range (years 1970 to 2200)")
    return parsed


def judge(number: int, raw: dict, settings: Settings, now: datetime) -> Row:
    """One row to a valid Row, or ValueError with the reason."""
    for name, value in raw.items():
        if isinstance(value, str) and "\ufffd" in value:
            raise ValueError(f"column {name!r} is not valid UTF-8 text")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"column {name!r} contains a NUL character")
        limit = COLUMN_LIMITS.get(name, MAX_FIELD)
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(f"column {name!r} is longer than {limit} characters")
    missing = [name for name in REQUIRED if not str(raw.get(name) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}" + (" (consent evidence is required)" if "phone" not in missing else ""))
    source = str(raw["consent_source"]).strip()
    if source not in _SOURCES:
        raise ValueError(f"consent_source {source!r} is not one of {', '.join(_SOURCES)}")
    try:
        phone = phones.normalize(str(raw["phone"]), settings.default_region)
    except phones.InvalidPhone as exc:
        raise ValueError(f"phone {raw['phone']!r} cannot receive SMS: {exc.reason}") from exc
    consented_at = _parse_time(str(raw["consented_at"]))
    if consented_at > now:
        raise ValueError("consented_at is in the future")
    attributes = raw.get("attributes") if isinstance(raw.get("attributes"), dict) else {}
    attributes = {**attributes, **{k: v for k, v in raw.items() if k not in KNOWN and k != "attributes" and v not in (None, "")}}
    first_name = (str(raw.get("first_name") or "").strip() or None)
    if first_name is not None:
        attribute_rules.check_text("first_name", first_name)
    attribute_rules.check_attributes(attributes)
    return Row(number=number, phone=phone, first_name=first_name, attributes=attributes,
               time_zone=(str(raw.get("time_zone") or "").strip() or None), source=source,
               evidence=str(raw["consent_evidence"]).strip(), consented_at=consented_at,
               ip=(str(raw.get("consent_ip") or "").strip() or None))


def bounded_lines(text) -> Iterator[tuple[str, bool]]:
    """(line, too long) for each physical line of ``text``; a line over MAX_ROW_CHARS is never held
    whole: it is read past in pieces and stands for one bad row."""
    while True:
        line = text.readline(MAX_ROW_CHARS + 1)
        if not line:
            return
        if len(line) <= MAX_ROW_CHARS or line.endswith("\n"):
            yield line, False
            continue
        while line and not line.endswith("\n"):
            line = text.readline(MAX_ROW_CHARS)
        yield "\n", True


def csv_rows(spooled) -> Iterator[tuple[int, dict | None, str | None]]:
    """(row number, fields or None, error) for each data row; row 1 is the header."""
    text = io.TextIOWrapper(spooled, encoding="utf-8-sig", errors="replace", newline="")
    overlong = False

    def lines() -> Iterator[str]:
        nonlocal overlong
        for line, too_long in bounded_lines(text):
            overlong = overlong or too_long
            yield line

    reader = csv.reader(lines())
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise Invalid("the CSV file has no header row", field="file") from exc
    if overlong:
        raise Invalid(f"the CSV header is longer than {MAX_ROW_CHARS} characters", field="file")
    header = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise Invalid(f"the CSV header lacks the column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}",
                      field="file")
    number = 1
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            overlong = False
            yield number, None, f"unreadable CSV row: {exc}"
            continue
        if overlong:
            overlong = False
            yield number, None, f"the row is longer than {MAX_ROW_CHARS} characters"
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            yield number, None, f"{len(values)} fields but the header has {len(header)}"
            continue
        yield number, dict(zip(header, values, strict=False)), None


def json_rows(spooled) -> Iterator[tuple[int, dict | None, str | None]]:
    """A JSON array of objects, or one object per line (NDJSON); each object a row, numbered from 1.

    Both are read incrementally: memory holds one row (at most MAX_ROW_CHARS) and a read buffer,
    never the whole body."""
    head = spooled.read(64).lstrip()
    spooled.seek(0)
    text = io.TextIOWrapper(spooled, encoding="utf-8", errors="replace")
    if head.startswith(b"["):
        yield from _array_rows(text)
        return
    for number, (line, too_long) in enumerate(bounded_lines(text), start=1):
        if too_long:
            yield number, None, f"the line is longer than {MAX_ROW_CHARS} characters"
            continue
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            yield number, None, "not valid JSON (or nested too deeply, or NaN/Infinity)"
            continue
        yield (number, _flatten(item), None) if isinstance(item, dict) else (number, None, "not a JSON object")


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 16


def _array_rows(text) -> Iterator[tuple[int, dict | None, str | None]]:
    """The elements of a top-level JSON array, decoded one at a time from a sliding buffer.

    A syntax error, or an element longer than MAX_ROW_CHARS, is reported as that row; the array
    cannot be read past it, so reading stops there (the rows before it stand)."""
    decoder = json.JSONDecoder(parse_constant=_no_constants)
    buffer, position, eof = "", 0, False

    def more() -> bool:
        nonlocal buffer, position, eof
        if eof:
            return False
        chunk = text.read(_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer, position = buffer[position:] + chunk, 0
        return True

    def skip_whitespace() -> str:
        nonlocal position
        while True:
            position = _WHITESPACE.match(buffer, position).end()
            if position < len(buffer) or not more():
                return buffer[position:position + 1]

    skip_whitespace()
    position += 1  # the "[" json_rows saw
    if skip_whitespace() == "]":
        return
    number = 0
    while True:
        number += 1
        skip_whitespace()
        while True:
            try:
                item, end = decoder.raw_decode(buffer, position)
            except (ValueError, RecursionError) as exc:
                if len(buffer) - position <= MAX_ROW_CHARS and more():
                    continue  # the element may just be cut off by the end of the buffer
                reason = (f"the element is longer than {MAX_ROW_CHARS} characters"
                          if len(buffer) - position > MAX_ROW_CHARS else
                          f"not valid JSON (or nested too deeply, or NaN/Infinity): {str(exc)[:120]}")
                yield number, None, reason + "; the rest of the array was not read"
                return
            if end < len(buffer) or not more():  # a number at the buffer's end may go on
                break
        position = end
        yield (number, _flatten(item), None) if isinstance(item, dict) else (number, None, "not a JSON object")
        separator = skip_whitespace()
        position += 1
        if separator == "]":
            return
        if separator != ",":
            yield number + 1, None, (f"expected ',' or ']' after row {number}, found {separator or 'the end'!r}; "
                                     "the rest of the array was not read")
            return


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _flatten(item: dict) -> dict:
    """The API's shape ({phone, consent: {source, evidence, consented_at, ip}}) as import columns."""
    flat = {k: v for k, v in item.items() if k != "consent"}
    given = item.get("consent") if isinstance(item.get("consent"), dict) else {}
    for key, column in (("source", "consent_source"), ("evidence", "consent_evidence"),
                        ("consented_at", "consented_at"), ("ip", "consent_ip")):
        if key in given:
            flat[column] = given[key]
    for key, value in list(flat.items()):
        if key != "attributes" and value is not None and not isinstance(value, str):
            flat[key] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return flat


async def run(session: AsyncSession, lst: SubscriberList, rows: Iterator[tuple[int, dict | None, str | None]], *,
              settings: Settings, actor: User) -> dict:
    require_reviewed_confirmation(lst)
    report = Report()
    now = utcnow()
    written = 0
    batch: dict[str, Row] = {}
    for number, raw, error in rows:
        if error is not None:
            report.reject(number, None, error)
            continue
        try:
            row = judge(number, raw, settings, now)
        except ValueError as exc:
            report.reject(number, (raw or {}).get("phone"), str(exc))
            continue
        if row.phone in batch:  # a duplicate within the file merges into the first
            first = batch[row.phone]
            first.attributes = {**first.attributes, **row.attributes}
            first.first_name = row.first_name or first.first_name
            report.accepted += 1
            report.unchanged += 1
            continue
        batch[row.phone] = row
        if len(batch) >= BATCH:
            await _write(session, lst, batch, report, settings, now)
            batch = {}
            written += 1
            if written % COMMIT_EVERY == 0:
                # Rows stand on their own and a re-import changes nothing, so a large import commits
                # as it goes: SQLite's write lock is released regularly for the API and the worker.
                await session.commit()
    if batch:
        await _write(session, lst, batch, report, settings, now)
    if report.created >= statistics.WORTH_ANALYSING:
        # "Import, then send": the launch that follows plans its audience with what was just written.
        await statistics.analyse(session, "subscriber", "subscription")
    record(session, "list.imported", actor=actor, target_type="list", target_id=lst.id,
           accepted=report.accepted, created=report.created, rejected=report.rejected_count)
    await session.flush()
    return report.as_dict()


async def _write(session: AsyncSession, lst: SubscriberList, batch: dict[str, Row], report: Report,
                 settings: Settings, now: datetime) -> None:
    phones_in = list(batch)
    opted_out = (await session.execute(
        select(Suppression.phone, Suppression.opted_out_at, Suppression.lifted_at).where(Suppression.phone.in_(phones_in))
    )).all()
    for phone, opted_out_at, lifted_at in opted_out:
        # An import never resubscribes: a suppressed number is refused, and a lifted one only with
        # consent given after its opt-out.
        if lifted_at is None or batch[phone].consented_at <= opted_out_at:
            row = batch.pop(phone)
            report.reject(row.number, phone, f"opted out on {opted_out_at.date().isoformat()}")
    if not batch:
        return
    existing = {phone: (sid, attrs, name) for sid, phone, attrs, name in (await session.execute(
        select(Subscriber.id, Subscriber.phone, Subscriber.attributes, Subscriber.first_name)
        .where(Subscriber.phone.in_(list(batch)))
    )).all()}
    new_subscribers, changed = [], []
    for phone, row in batch.items():
        if phone not in existing:
            zone, zones, state = _zones(phone, row.time_zone, settings)
            new_subscribers.append({
                "id": new_id("sub"), "phone": phone, "first_name": row.first_name, "attributes": row.attributes,
                "time_zone": zone, "time_zones": zones, "us_state": state, "created_at": now,
            })
            continue
        sid, attrs, name = existing[phone]
        merged = {**(attrs or {}), **row.attributes}
        if merged != (attrs or {}) or (row.first_name and row.first_name != name):
            changed.append({"b_id": sid, "b_attributes": merged, "b_first_name": row.first_name or name})
    if new_subscribers:
        await session.execute(Subscriber.__table__.insert(), new_subscribers)
    if changed:
        table = Subscriber.__table__
        await session.execute(update(table).where(table.c.id == bindparam("b_id"))
                              .values(attributes=bindparam("b_attributes"), first_name=bindparam("b_first_name")),
                              changed)
    ids = {s["phone"]: s["id"] for s in new_subscribers} | {p: v[0] for p, v in existing.items()}
    # Only people who existed before this batch can be on the list already. Looked up by subscriber
    # (not by list): the plan stays an index lookup however large the list grows (bench_import.py).
    on_list = {sid: (sub_id, state) for sub_id, sid, list_id, state in (await session.execute(
        select(Subscription.id, Subscription.subscriber_id, Subscription.list_id, Subscription.state)
        .where(Subscription.subscriber_id.in_([v[0] for v in existing.values()]))
    )).all() if list_id == lst.id} if existing else {}
    state = SubscriptionState.PENDING if lst.opt_in == "double" else SubscriptionState.SUBSCRIBED
    events, fresh, lapsed, outbound = [], [], [], []
    for phone, row in batch.items():
        report.accepted += 1
        subscriber_id = ids[phone]
        current = on_list.get(subscriber_id)
        if current is not None and current[1] in (SubscriptionState.PENDING, SubscriptionState.SUBSCRIBED):
            report.unchanged += 1
            continue
        event_id = new_id("cev")
        events.append({"id": event_id, "subscriber_id": subscriber_id, "list_id": lst.id, "kind": "opt_in",
                       "channel": row.source, "evidence": row.evidence, "phone": phone,
                       "consented_at": row.consented_at, "recorded_at": now, "ip": row.ip, "inbound_sid": None,
                       "actor_id": None})
        if current is None:
            fresh.append({"id": new_id("sbn"), "list_id": lst.id, "subscriber_id": subscriber_id, "state": state,
                          "consent_event_id": event_id, "created_at": now, "updated_at": now})
        else:  # a list-level unsubscribed subscription coming back with new consent
            lapsed.append({"b_id": current[0], "b_state": state, "b_event": event_id, "b_now": now})
        if state == SubscriptionState.PENDING:
            outbound.append({"id": new_id("otx"), "purpose": "confirmation", "sender_id": lst.sender_id,
                             "subscriber_id": subscriber_id, "to": phone, "state": MessageState.QUEUED, "created_at": now,
                             "body": lst.confirmation_text or texts.confirmation(settings.brand_name, lst.name),
                             "provider_sid": None, "error": None, "sent_at": None})
        report.created += 1
    if events:
        await session.execute(ConsentEvent.__table__.insert(), events)
    if fresh:
        await session.execute(Subscription.__table__.insert(), fresh)
    if lapsed:
        table = Subscription.__table__
        await session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            state=bindparam("b_state"), consent_event_id=bindparam("b_event"), updated_at=bindparam("b_now")), lapsed)
    if outbound:
        await session.execute(OutboundText.__table__.insert(), outbound)


_zone_cache: dict[tuple[str, str | None], tuple[str, list[str], str | None]] = {}


def _zones(phone: str, given: str | None, settings: Settings) -> tuple[str, list[str], str | None]:
    """Zones by number prefix (country code + area code), cached: numbers of one area share them."""
    if given:
        from app.audience.service import zones_for

        try:
            return zones_for(phone, given, settings)
        except Invalid:
            pass  # an unknown zone in a row falls back to the number's own
    if not phone.startswith("+1"):  # outside the NANP an area code is not a fixed-length prefix
        return (phones.time_zone_for(phone, settings.default_region),
                phones.candidate_time_zones(phone, settings.default_region), phones.us_state_for(phone))
    key = (phone[:5], settings.default_region)
    if key not in _zone_cache:
        _zone_cache[key] = (phones.time_zone_for(phone, settings.default_region),
                            phones.candidate_time_zones(phone, settings.default_region), phones.us_state_for(phone))
    return _zone_cache[key]


