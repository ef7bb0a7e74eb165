"""Ids are opaque but time-ordered: keyset pagination and audit order rely on it."""

from __future__ import annotations


def test_ids_made_in_one_millisecond_keep_their_order():
    from app.db.base import new_id

    ids = [new_id("aud") for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
