"""Engine and sessions, built in the app's lifespan or a script — never at import.

- ``Database.session()`` yields a plain session; services flush, callers commit.
- ``Database.unit_of_work()`` is the worker's and scripts' transaction: commit on success,
  rollback on error.
- The request dependency lives in ``app.deps`` and commits before the response is sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncpg import PostgresError
from sqlalchemy import event, exc
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


#: A pooled connection idle longer than this is pinged before use (see ``_ping_when_idle``).
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling without a ping on every checkout.

    ``pool_pre_ping`` costs three round trips on asyncpg (BEGIN, a ping, ROLLBACK) per checkout —
    per webhook request, as many as the opt-out's own work. A connection checked in moments ago
    was alive moments ago, so only one that sat idle (where a restart or an idle timeout would
    have cut it) is pinged; a dead one is replaced before the caller sees it, as with pre-ping. A
    connection cut while busy fails its statement with or without a ping, and SQLAlchemy then
    invalidates the whole pool, so the ones checked in beside it are replaced too.
    """

    @event.listens_for(engine.sync_engine, "connect")
    @event.listens_for(engine.sync_engine, "checkin")
    def _fresh(_dbapi_connection, record):
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("checked_in_at", 0.0) <= IDLE_PING_SECONDS:
            return
        try:
            engine.sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards this one and checks out (or opens) another
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def make_engine(url: str, **kwargs) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    if "poolclass" not in kwargs:
        # Sized for the concurrency one process serves: overflow connections are closed on return,
        # and each new one loses asyncpg's prepared statements (bench_webhooks.py saw about half the
        # requests open one with the old 10 + 20; docs/benchmarks.md).
        kwargs.setdefault("pool_size", 32)
        kwargs.setdefault("max_overflow", 8)
        kwargs.setdefault("pool_recycle", 1800)
        # The most recently used connection first: a light load keeps reusing a few warm ones (their
        # prepared statements cached, no idle ping) and the rest may idle out.
        kwargs.setdefault("pool_use_lifo", True)
        engine = create_async_engine(url, **kwargs)
        _ping_when_idle(engine)
        return engine
    return create_async_engine(url, **kwargs)


class Database:
    """One engine and its session factory. Tests bind it to a connection in an open transaction."""

    def __init__(self, engine: AsyncEngine, *, bind: AsyncConnection | None = None, owns_engine: bool = True):
        self.engine = engine
        self.owns_engine = owns_engine
        self.bound = bind is not None  # a test's connection in an open transaction: every session joins it
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

    async def fetch_in_one_round_trip(self, sql: str, *args) -> list:
        """One PostgreSQL statement (``$1``… placeholders) as its own transaction, on the asyncpg
        connection under a pooled one: no BEGIN and no COMMIT (the statement commits itself, and with
        synchronous_commit it is durable before its rows come back), and none of SQLAlchemy's work
        per statement — one round trip where a unit of work takes three. For the hottest single
        statement there is (the status callbacks' group commit); everything else uses sessions.
        SQLAlchemy does not see the driver's errors here, so a connection that failed other than by
        the server refusing the statement is invalidated, as SQLAlchemy does with its own."""
        if self.dialect != "postgresql" or self.bound:
            raise RuntimeError("fetch_in_one_round_trip needs an unbound PostgreSQL database")
        async with self.engine.connect() as connection:  # nothing executed through it: no BEGIN is sent
            driver = (await connection.get_raw_connection()).driver_connection
            try:
                return await driver.fetch(sql, *args)
            except BaseException as error:
                # Refused by the server, the statement rolled back and the connection is sound; cut,
                # timed out or cancelled mid-statement, it never goes back into the pool.
                if driver.is_closed() or not isinstance(error, PostgresError):
                    await connection.invalidate()
                raise

    async def dispose(self) -> None:
        if self.owns_engine:
            await self.engine.dispose()
