"""Group lookup: the links that concurrent redirects ask for, resolved by one statement.

Each redirect whose token is not in the cache hands it to ``GroupLookup.get`` and waits. One task
takes every token that has gathered (up to ``max_batch``), resolves them with one primary-key
statement (``service.resolve_many``) and answers each waiting request; while that statement runs
the next batch gathers. Alone, a redirect waits for one statement as it would by itself; under load
the session, the round trip and the statement are shared by every redirect of the batch, which is
what lets one API process answer thousands of first clicks a second (``scripts/bench_redirects.py``).
"""

from __future__ import annotations

import asyncio

from app.db import Database
from app.links import service


class GroupLookup:
    def __init__(self, db: Database, *, max_batch: int = 500) -> None:
        self.db, self.max_batch = db, max_batch
        self._waiting: list[tuple[str, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def get(self, token: str) -> service.Resolved | None:
        """The link of ``token``, or None; raises the database's error when the lookup failed."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((token, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="link-group-lookup")
        return await future

    async def _run(self) -> None:
        """Resolves batches while tokens wait, then ends (``get`` starts it again). No await between
        the last check and the end, so none is stranded."""
        while self._waiting:
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
            try:
                async with self.db.session() as session:
                    found = await service.resolve_many(session, list({token for token, _ in batch}))
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for token, future in batch:
                    if not future.done():
                        future.set_result(found.get(token))
