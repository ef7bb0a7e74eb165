"""Engine and sessions, built in the app's lifespan or a script — never at import.

- ``Database.session()`` yields a plain session; services flush, callers commit.
- ``Database.unit_of_work()`` is the worker's and scripts' transaction: commit on success,
  rollback on error.
- The request dependency lives in ``app.deps`` and commits before the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    """Real transactions on SQLite (so SAVEPOINT works) plus WAL, foreign keys and a busy timeout."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock up front: no read-then-write upgrade can fail with BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    if "poolclass" not in kwargs:
        # Sized for the concurrency one process serves: overflow connections are closed on return,
        # and each new one loses asyncpg's prepared statements (bench_webhooks.py saw 1,280 new
        # connections in 2,600 requests with the old 10 + 20).
        kwargs.setdefault("pool_size", 32)
        kwargs.setdefault("max_overflow", 8)
        kwargs.setdefault("pool_recycle", 1800)
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """One engine and its session factory. Tests bind it to a connection in an open transaction."""

    def __init__(self, engine: AsyncEngine, *, bind: AsyncConnection | None = None, owns_engine: bool = True):
        self.engine = engine
        self.owns_engine = owns_engine
        self.sessionmaker = async_sessionmaker(
            bind=bind or engine,
            expire_on_commit=False,
            autoflush=False,
            **({"join_transaction_mode": "create_savepoint"} if bind is not None else {}),
        )

    @classmethod
    def from_url(cls, url: str, **kwargs) -> Database:
        return cls(make_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        if self.owns_engine:
            await self.engine.dispose()
