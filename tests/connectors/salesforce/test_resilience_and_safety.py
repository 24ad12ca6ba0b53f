"""The Salesforce connector under faults (429, 503, timeouts, expired sessions, the API budget), its
safety (no secret in a message, SOQL injection) and its checks."""

from __future__ import annotations

import json
from dataclasses import replace

import certifi
import pytest

from connectors.base import WriteRecord
from connectors.errors import AuthError, BudgetExhausted, ConfigError
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from sandbox.faults import FaultConfig
from tests.connectors.salesforce.kit import (
    ENTITIES,
    FAST,
    accounts,
    connect,
    entity_source,
    org_count,
    records_of,
)

# ---------------------------------------------------------------------------------------------- resilience
FLAKY = {"rate_429": 0.1, "rate_503": 0.1, "rate_timeout": 0.1}
PATIENT = {"request_timeout_seconds": 0.25, "retry_max_attempts": 12}


def test_extraction_under_injected_429s_503s_and_timeouts_is_identical(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(seed=11, timeout_seconds=0.6))
    sources = [entity_source(e) for e in ENTITIES]
    baseline = [records_of(connect(), s) for s in sources]
    bulk_baseline = records_of(connect(bulk_query_threshold=0, bulk_page_size=10), sources[0])

    sandboxes.crm_faults.update(**FLAKY)
    results = [records_of(connect(**PATIENT), s) for s in sources]
    bulk_results = records_of(connect(**PATIENT, bulk_query_threshold=0, bulk_page_size=10), sources[0])
    sandboxes.crm_faults.reset()

    assert all(sandboxes.crm_faults.injected[kind] > 0 for kind in ("429", "503", "timeout"))
    assert results == baseline
    assert bulk_results == bulk_baseline


def test_writes_under_injected_429s_503s_and_timeouts_have_identical_outcomes(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(seed=12, timeout_seconds=0.6))
    source = entity_source("customer")

    def write(prefix: str, **settings: object):
        collections = connect(**settings).write_batch(source, accounts(250, prefix, BillingCity="Ulm"))
        bulk = connect(**settings, bulk_write_threshold=5).write_batch(source, accounts(30, prefix + "B"))
        return [(o.status, o.error_code) for o in collections + bulk]

    clean = write("A")
    sandboxes.crm_faults.update(**FLAKY)
    flaky = write("Z", **PATIENT)
    sandboxes.crm_faults.reset()

    assert sum(sandboxes.crm_faults.injected.values()) >= 2, sandboxes.crm_faults.injected
    assert flaky == clean
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'Z%'") == 280
    assert org_count(sandboxes.org, "SyncHub_Id__c LIKE 'Z%' AND BillingCity = 'Ulm'") == 250


@pytest.mark.parametrize(
    ("data", "settings"),
    [
        ("paged", {"query_page_size": 200}),  # REST query pages
        ("small", {"bulk_query_threshold": 0, "bulk_page_size": 10}),  # the pages of a Bulk API 2.0 job
    ],
    ids=["rest", "bulk"],
)
def test_an_expired_session_is_refreshed_once_in_the_middle_of_an_extraction(
    sandbox_factory, request, data, settings
):
    sandboxes = sandbox_factory(data_dir=request.getfixturevalue(data))
    connector = connect(**settings)
    pages = connector.extract_changed(entity_source("customer"), None)

    first = next(pages)
    sandboxes.org.expire_sessions()
    rest = list(pages)

    assert len(first.records) + sum(len(p.records) for p in rest) == len(
        sandboxes.org.live_records("Account", include_deleted=True)
    )
    assert connector.usage.by_operation["login"] == 2


def test_a_session_that_stays_invalid_after_a_fresh_login_is_an_auth_error(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, crm_faults=FaultConfig(rate_expired_session=1.0))
    connector = connect()

    with pytest.raises(AuthError) as caught:
        records_of(connector, entity_source("customer"))

    assert caught.value.remote_code == "INVALID_SESSION_ID"
    assert connector.usage.by_operation["login"] == 2
    assert sandboxes.org.password not in str(caught.value)
    assert "!" not in str(caught.value)  # no session id (<org id>!<token>)


def test_the_run_stops_before_spending_the_api_reserve(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small, daily_api_limit=30)
    connector = connect(api_reserve_calls=5)

    with pytest.raises(BudgetExhausted) as caught:
        for _ in range(30):
            records_of(connector, entity_source("customer"))

    assert "Salesforce API budget: 25 of 30 daily calls used; reserve of 5 reached - stopping before" in str(
        caught.value
    )
    assert sandboxes.org.api_usage() == (25, 30)


def test_the_org_refusing_more_calls_stops_the_run_with_its_message(sandbox_factory, small):
    sandbox_factory(data_dir=small, daily_api_limit=8)
    source = entity_source("product")
    ours, other_integration = connect(api_reserve_calls=0), connect(api_reserve_calls=0)
    list(ours.extract_all_keys(source))  # ours last saw 2 of 8 calls used
    with pytest.raises(BudgetExhausted):
        while True:
            list(other_integration.extract_all_keys(source))

    with pytest.raises(BudgetExhausted) as caught:
        list(ours.extract_all_keys(source))

    assert caught.value.remote_code == "REQUEST_LIMIT_EXCEEDED"
    assert "TotalRequests Limit exceeded." in str(caught.value)


# ---------------------------------------------------------------------------------------------- safety
def test_a_soql_injection_attempt_in_an_external_id_is_harmless(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    source = entity_source("customer")
    sneaky = "x' OR Name != '"
    written = connector.write_batch(source, [WriteRecord("S", {"Name": "Sneaky", "SyncHub_Id__c": sneaky})])

    found = connector.keys_for_external_ids(source, [sneaky])
    nothing = connector.keys_for_external_ids(source, ["nope' OR Name != '", "a\\' OR Name != '"])

    assert found == {sneaky: written[0].remote_key}
    assert nothing == {}
    assert len(sandboxes.org.live_records("Account")) > 1


def test_a_client_credentials_connection_without_user_or_password_reads_and_writes(
    sandbox_factory, monkeypatch, small
):
    """Issue 11, row 9: the OAuth client-credentials flow (a connected app with a run-as user), which
    Salesforce recommends over the username-password flow it is retiring, works through the
    provider's SalesforceHook: no login and no password in the connection."""
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    del connection["login"], connection["password"]
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_CC", json.dumps(connection))
    connector = SalesforceConnector.from_airflow("synchub_crm_cc", SalesforceSettings(**FAST))

    read = records_of(connector, entity_source("customer"))
    assert read == records_of(connect(), entity_source("customer"))  # as the password flow reads
    [written] = connector.write_batch(entity_source("customer"), accounts(1, "CC"))
    assert written.status == "created"


def test_a_failed_login_names_the_connection_but_not_the_password(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["password"] = "Wr0ng-Secret-Passw0rd"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_BAD", json.dumps(connection))
    connector = SalesforceConnector.from_airflow("synchub_crm_bad", SalesforceSettings(**FAST))

    with pytest.raises(AuthError) as caught:
        records_of(connector, entity_source("customer"))

    assert "synchub_crm_bad" in str(caught.value)
    assert "Wr0ng-Secret-Passw0rd" not in str(caught.value)
    assert sandboxes.org.consumer_secret not in str(caught.value)


def test_a_mapping_naming_a_missing_field_is_a_config_error_without_secrets(sandbox_factory, small):
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    source = entity_source("customer")
    broken = replace(source, salesforce=replace(source.salesforce, fields=("Name", "No_Such_Field__c")))

    with pytest.raises(ConfigError) as caught:
        records_of(connector, broken)

    assert caught.value.remote_code == "INVALID_FIELD"
    assert "No_Such_Field__c" in str(caught.value)
    assert sandboxes.org.password not in str(caught.value)
    assert connector.transport.secrets and not any(
        s in str(caught.value) for s in connector.transport.secrets
    )


def test_an_explicit_ca_from_the_connection_wins_over_the_environment(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["extra"]["synchub_ca_bundle"] = str(sandboxes.tls.ca_cert)
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_CA", json.dumps(connection))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # public CAs only: would fail verification

    connector = SalesforceConnector.from_airflow("synchub_crm_ca")

    assert connector.settings.ca_bundle == str(sandboxes.tls.ca_cert)
    assert len(list(connector.extract_all_keys(entity_source("product")))) == 1


# ---------------------------------------------------------------------------------------------- check
def test_check_passes_for_every_mapped_entity(sandbox_factory, small):
    sandbox_factory(data_dir=small)

    results = connect().check([entity_source(e) for e in ENTITIES])

    assert [r.check for r in results if not r.ok] == []
    assert {r.check for r in results} >= {"auth", "reachability", *(f"fields:{e}" for e in ENTITIES)}
    assert "create-only" in next(r.detail for r in results if r.check == "writable:price")


def test_check_names_missing_and_unwritable_fields(sandbox_factory, small):
    sandbox_factory(data_dir=small)
    source = entity_source("customer")
    broken = replace(
        source,
        salesforce=replace(
            source.salesforce,
            fields=("Name", "Parent.No_Such__c", "VAT_Numbr__c"),
            external_id="VAT_Number__c",
            writable=("Name", "CreatedDate"),
        ),
    )

    results = {r.check: r for r in connect().check([broken])}

    assert not results["fields:customer"].ok
    assert "Account.Parent.No_Such__c" in results["fields:customer"].detail
    assert "Account.VAT_Numbr__c does not exist" in results["fields:customer"].detail
    assert "Account.VAT_Number__c is not an External ID field" in results["fields:customer"].detail
    assert not results["writable:customer"].ok
    assert "Account.CreatedDate" in results["writable:customer"].detail


def test_check_reports_a_failed_login_as_a_verdict(sandbox_factory, monkeypatch, small):
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.crm_connection()
    connection["password"] = "not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM_BAD", json.dumps(connection))

    results = SalesforceConnector.from_airflow("synchub_crm_bad", SalesforceSettings(**FAST)).check([])

    assert [(r.check, r.ok) for r in results] == [("auth", False)]
    assert "not-the-password" not in results[0].detail
