"""The large body limit belongs to one route, after its key is known good; the import is streamed in
bounded memory whatever its format (issue 21, item 1)."""

from __future__ import annotations

import io
import json
import tempfile
import tracemalloc

import httpx
import pytest

from app.audience import imports
from app.main import create_app
from tests.conftest import OWNED
from tests.factories import CountedBody

SMALL = 4096
LARGE = 256 * 1024
WHEN = "2026-10-01T12:00:00Z"
HEADER = "phone,first_name,consent_source,consent_evidence,consented_at\n"


@pytest.fixture
def small_app(settings, db, provider):
    return create_app(settings.model_copy(update={"max_body_bytes": SMALL, "max_import_bytes": LARGE}),
                      database=db, provider=provider)


@pytest.fixture
async def small_client(small_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_app), base_url="http://fineline.test") as c:
        yield c


@pytest.fixture
async def list_id(small_client, admin, marketer) -> str:
    sender = (await small_client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "M"},
                                      headers=admin.headers)).json()
    await small_client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    created = await small_client.post("/v1/lists", json={"name": "L", "opt_in": "single", "sender_id": sender["id"]},
                                      headers=marketer.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


@pytest.mark.parametrize("method,path", [("PATCH", "/v1/campaigns/imports"), ("PATCH", "/v1/senders/imports"),
                                         ("PUT", "/v1/lists/x/imports"), ("POST", "/v1/lists/x/imports/y"),
                                         ("POST", "/v1/imports")])
async def test_paths_that_merely_end_in_imports_keep_the_small_limit(small_client, method, path):
    body = b"[" + b"[]," * (SMALL // 3) + b"[]]"
    response = await small_client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    streamed = CountedBody(SMALL * 4)
    response = await small_client.request(method, path, content=streamed, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert streamed.pulled <= SMALL // streamed.chunk + 1  # read no further than the small limit


@pytest.mark.parametrize("who", ["nobody", "wrong key", "reviewer", "ops"])
async def test_import_is_refused_before_its_body_is_read(small_client, list_id, reviewer, ops, who):
    headers = {"content-type": "text/csv", "content-length": str(SMALL * 8)}
    headers |= {"nobody": {}, "wrong key": {"Authorization": "Bearer fl_nope"},
                "reviewer": reviewer.headers, "ops": ops.headers}[who]
    body = CountedBody(SMALL * 8)
    response = await small_client.post(f"/v1/lists/{list_id}/imports", content=body, headers=headers)
    assert response.status_code == (401 if who in ("nobody", "wrong key") else 403), response.text
    assert body.pulled == 0


async def test_import_by_a_marketer_may_exceed_the_small_limit_up_to_the_import_limit(small_client, list_id,
                                                                                      marketer):
    rows = "".join(f"+1415555{i:04d},Ana,web_form,https://acme.example/join,{WHEN}\n" for i in range(1000, 1200))
    body = (HEADER + rows).encode()
    assert SMALL < len(body) < LARGE
    response = await small_client.post(f"/v1/lists/{list_id}/imports", content=body,
                                       headers={**marketer.headers, "content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 200
    too_big = await small_client.post(f"/v1/lists/{list_id}/imports", content=CountedBody(LARGE * 2, chunk=8192),
                                      headers={**marketer.headers, "content-type": "text/csv"})
    assert too_big.status_code == 413, too_big.text
    declared = await small_client.post(f"/v1/lists/{list_id}/imports", content=b"x" * (LARGE + 1),
                                       headers={**marketer.headers, "content-type": "text/csv"})
    assert declared.status_code == 413


def _peak(rows_of) -> tuple[int, list, int]:
    """(rows read, the bad ones as (number, None, error), the peak bytes allocated reading them all)."""
    tracemalloc.start()
    try:
        count, bad = 0, []
        for number, _, error in rows_of():
            count += 1
            if error is not None:
                bad.append((number, None, error))
        return count, bad, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


ROW = {"phone": "+14155550100", "first_name": "Ana", "attributes": {"tier": "gold"},
       "consent": {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": WHEN}}


def test_a_json_array_import_is_parsed_incrementally_in_bounded_memory():
    n = 60_000
    with tempfile.TemporaryFile() as spooled:
        spooled.write(b"[\n")
        for i in range(n):
            spooled.write(json.dumps(dict(ROW, phone=f"+1415{i:07d}")).encode() + (b",\n" if i < n - 1 else b"\n"))
        spooled.write(b"]")
        size = spooled.tell()
        spooled.seek(0)
        count, bad, peak = _peak(lambda: imports.json_rows(spooled))
    assert count == n and bad == []
    assert size > 10_000_000
    assert peak < 2_000_000, f"peak {peak} bytes for a {size}-byte array"  # json.load holds it all: > 50 MB


def test_a_json_array_is_read_row_by_row_with_its_errors_numbered():
    body = b' [ {"phone": "1"} , 42, {"phone": 2.5e3}, [], "x" ,{"phone":"\xe2\x98\x83"}]  '
    rows = list(imports.json_rows(io.BytesIO(body)))
    assert [(n, raw, error) for n, raw, error in rows] == [
        (1, {"phone": "1"}, None), (2, None, "not a JSON object"), (3, {"phone": "2500.0"}, None),
        (4, None, "not a JSON object"), (5, None, "not a JSON object"), (6, {"phone": "\u2603"}, None)]
    for broken, reason in ((b'[{"phone": "1"}, {"phone": ', "not valid JSON"), (b'[{"a": 1} {"b": 2}]', "expected"),
                           (b"[" * 100_000, "not valid JSON"), (b'[{"a": NaN}]', "not valid JSON"),
                           (b"[1,]", "not valid JSON")):
        *_, (number, raw, error) = imports.json_rows(io.BytesIO(broken))
        assert raw is None and reason in error, (broken[:40], error)
    assert list(imports.json_rows(io.BytesIO(b"[]"))) == []


def test_one_huge_ndjson_line_or_csv_row_is_a_bad_row_read_in_bounded_memory():
    huge = b"x" * (imports.MAX_ROW_CHARS * 3)
    good = json.dumps(ROW).encode()
    with tempfile.TemporaryFile() as spooled:
        spooled.write(good + b"\n" + b'{"phone": "' + huge + b'"}\n' + good + b"\n")
        spooled.seek(0)
        count, bad, peak = _peak(lambda: imports.json_rows(spooled))
    assert count == 3 and [n for n, _, _ in bad] == [2] and "longer than" in bad[0][2]
    assert peak < 2 * imports.MAX_ROW_CHARS * 4 + 1_000_000
    csv_row = f"+14155550100,Ana,web_form,x,{WHEN}\n".encode()
    with tempfile.TemporaryFile() as spooled:
        spooled.write(HEADER.encode() + csv_row + b"+1," + b"a," * len(huge) + b"\n" + csv_row)
        spooled.seek(0)
        count, bad, peak = _peak(lambda: imports.csv_rows(spooled))
    assert count == 3 and [n for n, _, _ in bad] == [3] and "longer than" in bad[0][2]
    assert peak < 2 * imports.MAX_ROW_CHARS * 4 + 1_000_000
