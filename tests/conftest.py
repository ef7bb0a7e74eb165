"""Test fixtures: real databases (SQLite, or PostgreSQL when TEST_DATABASE_URL is set), the schema
from Alembic, one rolled-back transaction per test, and pytest-httpx answering every outbound call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import Database, migrations
from app.db.session import make_engine
from app.main import create_app
from app.providers.sandbox import SandboxProvider
from tests import databases
from tests.factories import make_user


@pytest.fixture(autouse=True)
def _no_network(httpx_mock):
    """pytest-httpx is active in every test: an unexpected outbound request fails the test."""
    yield httpx_mock


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = databases.create_database(tmp_path_factory.mktemp("db"), "shared")
    migrations.upgrade(url)
    yield url
    databases.drop_database(url)


@pytest.fixture
def scratch_database_url(tmp_path) -> str:
    """An empty database of the run's kind, for tests that migrate up and down."""
    url = databases.create_database(tmp_path, "scratch")
    yield url
    databases.drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine) -> AsyncIterator[Database]:
    """A Database whose sessions live inside one outer transaction, rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield Database(engine, bind=connection, owns_engine=False)
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
async def session(db):
    async with db.session() as session:
        yield session


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(
        database_url=database_url,
        provider="sandbox",
        worker="off",
        public_base_url="https://fineline.test",
        twilio_auth_token="test-auth-token",
        twilio_account_sid="AC" + "1" * 32,
        _env_file=None,
    )


OWNED = ["+15005550006", "+18005550100", "12345", "MG" + "a" * 32]


@pytest.fixture
def provider(settings):
    """The sandbox account: two numbers (one toll-free), a short code and a messaging service."""
    return SandboxProvider(OWNED, account_sid=settings.account_sid, auth_token=settings.auth_token, callbacks=False)


@pytest.fixture
def app(settings, db, provider):
    return create_app(settings, database=db, provider=provider)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fineline.test") as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def admin(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["admin"], email="admin@example.com")


@pytest.fixture
async def admin2(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["admin"], email="admin2@example.com")


@pytest.fixture
async def marketer(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["marketer"], email="marketer@example.com")


@pytest.fixture
async def reviewer(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["reviewer"], email="reviewer@example.com")


@pytest.fixture
async def ops(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["ops"], email="ops@example.com")
