"""The dispatch hot path's statements keep one SQL text whatever the batch size: each is prepared
once per connection (asyncpg caches 100 per connection, and PostgreSQL keeps each prepared one in
the backend's memory)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from app.dispatch.claim import _claim_statement
from app.dispatch.send import _completion, recipient_lookup


def _sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect()))


def test_the_recipient_lookup_has_one_text_for_every_batch_size_on_postgresql():
    texts = {_sql(recipient_lookup("postgresql", ids, ["lst_1"]))
             for ids in (["sub_1"], [f"sub_{i}" for i in range(128)], [f"sub_{i}" for i in range(500)])}
    assert len(texts) == 1 and "unnest" in texts.pop()


def test_sqlite_keeps_a_plain_in_list():
    statement = recipient_lookup("sqlite", ["a", "b"], ["lst_1"])
    assert "subscriber.id IN ('a', 'b')" in str(statement.compile(dialect=sqlite.dialect(),
                                                                  compile_kwargs={"literal_binds": True}))


def test_claim_and_completion_statements_are_built_once():
    assert _claim_statement("postgresql") is _claim_statement("postgresql")
    assert _claim_statement("postgresql") is not _claim_statement("sqlite")  # SKIP LOCKED only on PostgreSQL
    assert "SKIP LOCKED" in _sql(_claim_statement("postgresql"))
    assert "MATERIALIZED" in _sql(_claim_statement("postgresql"))
    assert _completion(("provider_sid", "sent_at", "state")) is _completion(("provider_sid", "sent_at", "state"))
