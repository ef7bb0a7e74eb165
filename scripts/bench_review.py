#!/usr/bin/env python
"""What reviewing placeholder values costs: ``app.campaigns.service.evaluate`` (what /check, submit
and review run) for a body without placeholders beside the same body with ``{first_name}`` and a
unique-per-subscriber ``{attributes.code}``, over the same audience in the same run.

    .venv/bin/python scripts/bench_review.py                      # 100,000 subscribers on SQLite
    .venv/bin/python scripts/bench_review.py --rows 100000 \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests. SQLite: a file in a temporary directory. PostgreSQL: a uniquely
named database on the server of ``--url``, dropped at the end. The audience is imported with
``app.audience.imports.run`` (the import route's own code, without HTTP). Each body is evaluated
``--repeat`` times, alternating; the best time of each is printed with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from app.audience import imports  # noqa: E402
from app.campaigns import service  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import Database, migrations  # noqa: E402
from app.models import Sender, SubscriberList  # noqa: E402
from app.users import service as users  # noqa: E402
from scripts.benchkit import scratch_database  # noqa: E402

PLAIN = "Fineline Demo Co: fall sale, 20% off today. Reply STOP to opt out."
PERSONAL = "Fineline Demo Co: Hi {first_name|there}, fall sale with code {attributes.code}. Reply STOP to opt out."
NAMES = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "June", "Kai", "Lea"]


def rows(count: int):
    for i in range(count):
        yield i + 1, {"phone": f"+1415{2000000 + i:07d}", "first_name": NAMES[i % len(NAMES)] + str(i % 997),
                      "consent_source": "web_form", "consent_evidence": "https://acme.example/join",
                      "consented_at": "2026-10-01T12:00:00Z", "code": f"FALL-{i:06d}"}, None


async def run(url: str, count: int, repeat: int) -> None:
    settings = Settings(database_url=url, provider="sandbox", worker="off", _env_file=None)
    db = Database.from_url(url)
    try:
        async with db.unit_of_work() as session:
            actor = (await users.create_user(session, email="bench@example.com", name="Bench", roles=["marketer"],
                                             actor=None))[0]
            sender = Sender(kind="long_code", address="+15005550006", label="Main", mps=100, state="verified")
            lst = SubscriberList(name="Bench", opt_in="single")
            session.add_all([sender, lst])
            await session.flush()
            started = time.perf_counter()
            await imports.run(session, lst, rows(count), settings=settings, actor=actor)
            print(f"imported {count:,} subscribers in {time.perf_counter() - started:.1f} s")
            campaigns = {}
            for name, body in (("plain", PLAIN), ("placeholders", PERSONAL)):
                campaigns[name] = (await service.create(session, name=name, sender_id=sender.id, list_ids=[lst.id],
                                                        body=body, scheduled_at=None, rollout=None,
                                                        spike_policy="pause", actor=actor)).id
        best = {name: float("inf") for name in campaigns}
        for round_ in range(repeat):
            order = list(campaigns) if round_ % 2 == 0 else list(reversed(campaigns))
            for name in order:
                async with db.session() as session:
                    campaign = await service.get_campaign(session, campaigns[name])
                    started = time.perf_counter()
                    result = await service.evaluate(session, campaign, settings)
                    best[name] = min(best[name], time.perf_counter() - started)
                    if name == "placeholders":
                        started = time.perf_counter()
                        await service._audience_values(session, result["full_body"], result["list_ids"])
                        print(f"  reading the values: {(time.perf_counter() - started) * 1000:.0f} ms")
                        shown = {n: (t.distinct, "by value" if t.by_value else "by rule")
                                 for n, t in result["tallies"].items()}
        print(f"evaluate, best of {repeat}: without placeholders {best['plain'] * 1000:.0f} ms; with "
              f"{{first_name}} and a unique {{attributes.code}} {best['placeholders'] * 1000:.0f} ms "
              f"({best['placeholders'] / best['plain']:.1f}x); {shown}")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL; default: an SQLite file")
    args = parser.parse_args()
    print("$", shlex.join(["scripts/bench_review.py", *sys.argv[1:]]))
    if args.url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            migrations.upgrade(url)
            asyncio.run(run(url, args.rows, args.repeat))
        return
    with scratch_database(args.url, "review", migrate=True) as url:
        asyncio.run(run(url, args.rows, args.repeat))


if __name__ == "__main__":
    main()
