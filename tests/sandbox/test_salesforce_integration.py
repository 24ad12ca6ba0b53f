"""The Salesforce sandbox end to end through the unmodified simple-salesforce client over HTTPS: SOQL
operators and literals, the stamps every write maintains, and fault injection (at start and at run time).

Time is the org's own clock (``SalesforceOrg(clock=...)``), so the tests move it instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from sandbox.faults import FaultInjector
from sandbox.salesforce.app import create_app
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.org_model import format_datetime
from sandbox.salesforce.schema import make_id
from sandbox.server import ServerHandle, serve
from sandbox.tls import TlsFiles, ensure_tls

pytestmark = pytest.mark.integration

QUERY_NOW = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)
WRITE_START = dt.datetime(2026, 11, 20, 9, 0, 0, tzinfo=dt.UTC)


def account(n: int, name: str, created: str, modstamp: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "Id": make_id("001", n),
        "Name": name,
        "SyncHub_Id__c": f"Q-{n}",
        "CreatedDate": created,
        "LastModifiedDate": modstamp or created,
        "SystemModstamp": modstamp or created,
        **fields,
    }


# The query org holds exactly these rows; "today" is 2026-11-20 (UTC) on its clock.
QUERY_ACCOUNTS = [
    account(
        1,
        "Alpha Industries",
        "2026-11-20T08:00:00Z",
        Industry="Manufacturing",
        Rating="Hot",
        NumberOfEmployees=500,
    ),
    account(
        2, "Beta GmbH", "2026-11-19T23:30:00Z", Industry="Technology", Rating="Warm", NumberOfEmployees=50
    ),
    account(
        3,
        "Gamma Ltd",
        "2026-11-10T10:00:00Z",
        "2026-11-15T10:00:00Z",
        Industry="Manufacturing",
        NumberOfEmployees=120,
    ),
    account(4, "Delta Inc.", "2026-10-20T23:59:59Z", Rating="Cold"),
    account(
        5,
        "Epsilon SA",
        "2026-09-01T00:00:00Z",
        "2026-11-20T11:59:59Z",
        Industry="Technology",
        Rating="Hot",
        NumberOfEmployees=50,
    ),
    account(6, "Zeta Co", "2026-10-21T00:00:00Z", Industry="Retail", NumberOfEmployees=10),
]
QUERY_ORDERS = [
    {
        "Id": make_id("801", n),
        "AccountId": make_id("001", 1),
        "EffectiveDate": day,
        "Status": "Draft",
    }
    for n, day in enumerate(["2026-10-31", "2026-11-01", "2026-11-02"], start=1)
]


class SteppingClock:
    """The write org's clock: it stands still until a test moves it forward."""

    def __init__(self, start: dt.datetime) -> None:
        self._lock = threading.Lock()
        self._now = start

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: int = 60) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now


def stamp(moment: dt.datetime) -> str:
    return format_datetime(moment)


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(Path(tmp_path_factory.mktemp("sf-integration-tls")))


_open_sessions: list[requests.Session] = []


class TimeoutSession(requests.Session):
    """A session with a default read timeout, as production callers configure one."""

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.default_timeout is not None:
            kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def _session(tls: TlsFiles, timeout: float | None = None) -> requests.Session:
    session = TimeoutSession(timeout)
    session.verify = str(tls.ca_cert)
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would otherwise override ``verify``.
    session.trust_env = False
    _open_sessions.append(session)
    return session


def _client(
    server: ServerHandle,
    tls: TlsFiles,
    org: SalesforceOrg,
    *,
    timeout: float | None = None,
    on_response: Callable[[requests.Response], None] | None = None,
) -> Salesforce:
    session = _session(tls, timeout)
    if on_response is not None:
        session.hooks["response"].append(lambda response, *args, **kwargs: on_response(response))
    return Salesforce(
        instance_url=server.url, session_id=org.issue_session(), session=session, version="62.0"
    )


def _serve(app: Any, tls: TlsFiles) -> Iterator[ServerHandle]:
    handle = serve(app, tls=tls)
    yield handle
    while _open_sessions:  # close kept-alive connections so the server stops at once
        _open_sessions.pop().close()
    handle.stop()


@pytest.fixture(scope="module")
def query_org() -> SalesforceOrg:
    org = SalesforceOrg(clock=lambda: QUERY_NOW)
    org.load({"Account": QUERY_ACCOUNTS, "Order": QUERY_ORDERS})
    return org


@pytest.fixture(scope="module")
def faults() -> FaultInjector:
    return FaultInjector()


@pytest.fixture(scope="module")
def query_server(tls: TlsFiles, query_org: SalesforceOrg, faults: FaultInjector) -> Iterator[ServerHandle]:
    yield from _serve(create_app(query_org, faults), tls)


@pytest.fixture(scope="module")
def sf(query_server: ServerHandle, tls: TlsFiles, query_org: SalesforceOrg) -> Salesforce:
    return _client(query_server, tls, query_org)


@pytest.fixture(scope="module")
def clock() -> SteppingClock:
    return SteppingClock(WRITE_START)


@pytest.fixture(scope="module")
def write_org(clock: SteppingClock) -> SalesforceOrg:
    return SalesforceOrg(clock=clock)


@pytest.fixture(scope="module")
def write_server(tls: TlsFiles, write_org: SalesforceOrg) -> Iterator[ServerHandle]:
    yield from _serve(create_app(write_org), tls)


@pytest.fixture(scope="module")
def writer(write_server: ServerHandle, tls: TlsFiles, write_org: SalesforceOrg) -> Salesforce:
    return _client(write_server, tls, write_org)


@pytest.fixture
def fault_reset(faults: FaultInjector) -> Iterator[FaultInjector]:
    faults.reset()
    yield faults
    faults.reset()


def names(sf: Salesforce, where: str, order_by: str = "Name") -> list[str]:
    result = sf.query_all(f"SELECT Name FROM Account WHERE {where} ORDER BY {order_by}")
    return [r["Name"] for r in result["records"]]


# ------------------------------------------------------------------------------------------- SOQL
def test_in_selects_exactly_the_listed_values(sf: Salesforce) -> None:
    assert names(sf, "Industry IN ('Manufacturing', 'Retail')") == [
        "Alpha Industries",
        "Gamma Ltd",
        "Zeta Co",
    ]


def test_not_in_selects_every_other_value(sf: Salesforce) -> None:
    assert names(sf, "Name NOT IN ('Alpha Industries', 'Zeta Co', 'No Such Co')") == [
        "Beta GmbH",
        "Delta Inc.",
        "Epsilon SA",
        "Gamma Ltd",
    ]


def test_not_negates_a_parenthesised_or(sf: Salesforce) -> None:
    assert names(sf, "NOT (Name LIKE 'A%' OR Name LIKE 'B%')") == [
        "Delta Inc.",
        "Epsilon SA",
        "Gamma Ltd",
        "Zeta Co",
    ]


def test_not_combines_with_and_inside_parentheses(sf: Salesforce) -> None:
    assert names(sf, "Industry = 'Technology' AND (NOT Rating = 'Hot')") == ["Beta GmbH"]


def test_parentheses_decide_how_or_and_and_group(sf: Salesforce) -> None:
    either = names(sf, "(Industry = 'Technology' AND Rating = 'Hot') OR Name = 'Delta Inc.'")
    both = names(sf, "Industry = 'Technology' AND (Rating = 'Hot' OR Name = 'Delta Inc.')")

    assert either == ["Delta Inc.", "Epsilon SA"]
    assert both == ["Epsilon SA"]


@pytest.mark.parametrize("operator", ["!=", "<>"])
def test_not_equal_in_both_spellings_keeps_null_values(sf: Salesforce, operator: str) -> None:
    assert names(sf, f"Rating {operator} 'Hot'") == ["Beta GmbH", "Delta Inc.", "Gamma Ltd", "Zeta Co"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("NumberOfEmployees < 50", ["Zeta Co"]),
        ("NumberOfEmployees <= 50", ["Beta GmbH", "Epsilon SA", "Zeta Co"]),
        ("NumberOfEmployees > 120", ["Alpha Industries"]),
        ("NumberOfEmployees >= 120", ["Alpha Industries", "Gamma Ltd"]),
    ],
)
def test_ordering_comparisons_skip_null_values(sf: Salesforce, where: str, expected: list[str]) -> None:
    assert names(sf, where) == expected


def test_equals_null_selects_the_empty_fields(sf: Salesforce) -> None:
    assert names(sf, "Rating = null") == ["Gamma Ltd", "Zeta Co"]


def test_not_equals_null_selects_the_filled_fields(sf: Salesforce) -> None:
    assert names(sf, "Rating != null") == ["Alpha Industries", "Beta GmbH", "Delta Inc.", "Epsilon SA"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("EffectiveDate = 2026-11-01", ["2026-11-01"]),
        ("EffectiveDate > 2026-11-01", ["2026-11-02"]),
        ("EffectiveDate <= 2026-11-01", ["2026-10-31", "2026-11-01"]),
        ("EffectiveDate != 2026-11-01", ["2026-10-31", "2026-11-02"]),
    ],
)
def test_date_literal_compares_with_a_date_field(sf: Salesforce, where: str, expected: list[str]) -> None:
    result = sf.query_all(f"SELECT EffectiveDate FROM Order WHERE {where} ORDER BY EffectiveDate")

    assert [r["EffectiveDate"] for r in result["records"]] == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("SystemModstamp > 2026-11-15T10:00:00Z", ["Alpha Industries", "Beta GmbH", "Epsilon SA"]),
        (
            "SystemModstamp >= 2026-11-15T12:00:00+02:00",
            ["Alpha Industries", "Beta GmbH", "Epsilon SA", "Gamma Ltd"],
        ),
        ("SystemModstamp < 2026-11-19T18:30:00-05:00", ["Delta Inc.", "Gamma Ltd", "Zeta Co"]),
        ("SystemModstamp = 2026-11-20T12:59:59+01:00", ["Epsilon SA"]),
        ("SystemModstamp = 2026-11-20T11:59:59.000Z", ["Epsilon SA"]),
    ],
)
def test_datetime_literals_with_zone_compare_in_utc(sf: Salesforce, where: str, expected: list[str]) -> None:
    assert names(sf, where) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", ["Alpha Industries"]),
        ("CreatedDate = YESTERDAY", ["Beta GmbH"]),
        ("CreatedDate = LAST_N_DAYS:30", ["Alpha Industries", "Beta GmbH", "Gamma Ltd", "Zeta Co"]),
        ("CreatedDate < LAST_N_DAYS:30", ["Delta Inc.", "Epsilon SA"]),
        ("CreatedDate = LAST_N_DAYS:1", ["Alpha Industries", "Beta GmbH"]),
    ],
)
def test_relative_date_literals_count_days_on_the_org_clock(
    sf: Salesforce, where: str, expected: list[str]
) -> None:
    assert names(sf, where) == expected


def test_order_by_several_fields_with_desc_nulls_last(sf: Salesforce) -> None:
    result = sf.query_all("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS LAST, Name ASC")

    assert [r["Name"] for r in result["records"]] == [
        "Alpha Industries",
        "Gamma Ltd",
        "Beta GmbH",
        "Epsilon SA",
        "Zeta Co",
        "Delta Inc.",
    ]


def test_limit_and_offset_take_a_window_of_the_sorted_rows(sf: Salesforce) -> None:
    result = sf.query("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 2")

    assert [r["Name"] for r in result["records"]] == ["Delta Inc.", "Epsilon SA"]
    assert result["totalSize"] == 2 and result["done"] is True


# ------------------------------------------------------------------------------------------- stamps
STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


def stamps_of(sf: Salesforce, record_id: str) -> tuple[str, str, str]:
    record = sf.Account.get(record_id)
    return record["CreatedDate"], record["LastModifiedDate"], record["SystemModstamp"]


def test_insert_sets_all_three_stamps_to_the_write_time(writer: Salesforce, clock: SteppingClock) -> None:
    created_at = clock.advance()

    record_id = writer.Account.create({"Name": "Stamped On Insert"})["id"]

    assert stamps_of(writer, record_id) == (stamp(created_at),) * 3


def test_update_moves_last_modified_and_modstamp_but_not_created(
    writer: Salesforce, clock: SteppingClock
) -> None:
    created_at = clock.advance()
    record_id = writer.Account.create({"Name": "Stamped On Update"})["id"]
    updated_at = clock.advance()

    writer.Account.update(record_id, {"Phone": "+49 30 555"})

    assert stamps_of(writer, record_id) == (stamp(created_at), stamp(updated_at), stamp(updated_at))
    assert stamp(updated_at) > stamp(created_at)


def _collection_upsert(sf: Salesforce, key: str, name: str) -> dict[str, Any]:
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "SyncHub_Id__c": key, "Name": name}],
    }
    [result] = sf.restful("composite/sobjects/Account/SyncHub_Id__c", method="PATCH", json=body)
    return result


def test_collections_upsert_moves_the_stamps_of_the_matched_record(
    writer: Salesforce, clock: SteppingClock
) -> None:
    created_at = clock.advance()
    first = _collection_upsert(writer, "STAMP-COLL-1", "Collections Upsert")
    updated_at = clock.advance()

    second = _collection_upsert(writer, "STAMP-COLL-1", "Collections Upsert Renamed")

    assert (first["created"], second["created"]) == (True, False)
    assert second["id"] == first["id"]
    assert stamps_of(writer, first["id"]) == (stamp(created_at), stamp(updated_at), stamp(updated_at))


def test_bulk2_upsert_moves_the_stamps_of_the_matched_record(
    writer: Salesforce, clock: SteppingClock
) -> None:
    records = [{"SyncHub_Id__c": "STAMP-BULK-1", "Name": "Bulk Upsert"}]
    created_at = clock.advance()
    [first] = writer.bulk2.Account.upsert(records=records, external_id_field="SyncHub_Id__c", wait=0)
    updated_at = clock.advance()

    [second] = writer.bulk2.Account.upsert(records=records, external_id_field="SyncHub_Id__c", wait=0)

    assert first["numberRecordsProcessed"] == second["numberRecordsProcessed"] == 1
    assert first["numberRecordsFailed"] == second["numberRecordsFailed"] == 0
    record_id = writer.Account.get_by_custom_id("SyncHub_Id__c", "STAMP-BULK-1")["Id"]
    assert stamps_of(writer, record_id) == (stamp(created_at), stamp(updated_at), stamp(updated_at))


def test_delete_moves_the_stamps_that_query_all_then_shows(writer: Salesforce, clock: SteppingClock) -> None:
    created_at = clock.advance()
    record_id = writer.Account.create({"Name": "Stamped On Delete"})["id"]
    deleted_at = clock.advance()

    writer.Account.delete(record_id)

    soql = f"SELECT Id, IsDeleted, {', '.join(STAMPS)} FROM Account WHERE Id = '{record_id}'"
    assert writer.query(soql)["records"] == []
    [row] = writer.query_all(soql, include_deleted=True)["records"]
    assert row["IsDeleted"] is True
    assert (row["CreatedDate"], row["LastModifiedDate"], row["SystemModstamp"]) == (
        stamp(created_at),
        stamp(deleted_at),
        stamp(deleted_at),
    )


def test_modstamp_watermark_finds_exactly_the_records_written_since(
    writer: Salesforce, clock: SteppingClock
) -> None:
    before = writer.Account.create({"Name": "Written Before The Watermark"})["id"]
    watermark = clock.advance()
    after = writer.Account.create({"Name": "Written At The Watermark"})["id"]
    writer.Account.update(before, {"Phone": "+1 555 0100"})  # an update counts as a change, too
    literal = watermark.strftime("%Y-%m-%dT%H:%M:%SZ")

    result = writer.query_all(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal}")

    assert {r["Id"] for r in result["records"]} == {before, after}


# ------------------------------------------------------------------------------------------- faults
def test_injected_429_raises_a_general_error_and_sends_retry_after(
    query_server: ServerHandle, tls: TlsFiles, query_org: SalesforceOrg, fault_reset: FaultInjector
) -> None:
    responses: list[requests.Response] = []
    client = _client(query_server, tls, query_org, on_response=responses.append)
    fault_reset.update(rate_429=1.0)

    with pytest.raises(SalesforceGeneralError) as exc:
        client.query("SELECT Id FROM Account")

    assert exc.value.status == 429
    assert exc.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert responses[-1].status_code == 429
    assert int(responses[-1].headers["Retry-After"]) >= 1


def test_injected_timeout_fires_the_clients_read_timeout(
    query_server: ServerHandle, tls: TlsFiles, query_org: SalesforceOrg, fault_reset: FaultInjector
) -> None:
    client = _client(query_server, tls, query_org, timeout=0.3)
    fault_reset.update(rate_timeout=1.0, timeout_seconds=1.0)
    before = fault_reset.injected["timeout"]

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.query("SELECT Id FROM Account")

    assert fault_reset.injected["timeout"] == before + 1


def test_injected_timeout_without_a_client_timeout_ends_in_a_gateway_timeout(
    sf: Salesforce, fault_reset: FaultInjector
) -> None:
    fault_reset.update(rate_timeout=1.0, timeout_seconds=0.2)

    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account")

    assert exc.value.status == 504


def test_injected_latency_delays_every_answer(sf: Salesforce, fault_reset: FaultInjector) -> None:
    fault_reset.update(latency_ms=300)

    started = time.monotonic()
    result = sf.query("SELECT Id FROM Account")
    elapsed = time.monotonic() - started

    assert result["totalSize"] == len(QUERY_ACCOUNTS)
    assert elapsed >= 0.3


def _faults_url(server: ServerHandle) -> str:
    return f"{server.url}/__sandbox/faults"


def test_put_faults_changes_the_next_answers_at_run_time(
    sf: Salesforce, query_server: ServerHandle, tls: TlsFiles, fault_reset: FaultInjector
) -> None:
    admin = _session(tls)
    assert sf.query("SELECT Id FROM Account")["totalSize"] == len(QUERY_ACCOUNTS)

    response = admin.put(_faults_url(query_server), json={"rate_503": 1.0}, timeout=10)

    assert response.status_code == 200
    assert response.json()["config"]["rate_503"] == 1.0
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account")
    assert exc.value.status == 503


def test_get_faults_counts_the_injected_faults(
    sf: Salesforce, query_server: ServerHandle, tls: TlsFiles, fault_reset: FaultInjector
) -> None:
    admin = _session(tls)
    before = admin.get(_faults_url(query_server), timeout=10).json()["injected"]
    admin.put(_faults_url(query_server), json={"rate_429": 1.0}, timeout=10)

    for _ in range(2):
        with pytest.raises(SalesforceGeneralError):
            sf.query("SELECT Id FROM Account")

    after = admin.get(_faults_url(query_server), timeout=10).json()["injected"]
    assert after["429"] == before["429"] + 2
    assert after["503"] == before["503"]


def test_delete_faults_restores_normal_answers(
    sf: Salesforce, query_server: ServerHandle, tls: TlsFiles, fault_reset: FaultInjector
) -> None:
    admin = _session(tls)
    admin.put(_faults_url(query_server), json={"rate_503": 1.0, "latency_ms": 20}, timeout=10)

    response = admin.delete(_faults_url(query_server), timeout=10)

    assert response.status_code == 200
    config = response.json()["config"]
    assert (config["rate_503"], config["latency_ms"]) == (0.0, 0)
    assert sf.query("SELECT Id FROM Account")["totalSize"] == len(QUERY_ACCOUNTS)


def test_put_faults_rejects_an_out_of_range_rate_and_keeps_the_old_config(
    sf: Salesforce, query_server: ServerHandle, tls: TlsFiles, fault_reset: FaultInjector
) -> None:
    admin = _session(tls)

    response = admin.put(_faults_url(query_server), json={"rate_503": 1.5}, timeout=10)

    assert response.status_code == 400
    assert "rate_503" in response.json()["error"]
    assert sf.query("SELECT Id FROM Account")["totalSize"] == len(QUERY_ACCOUNTS)
