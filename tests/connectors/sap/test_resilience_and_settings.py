"""The SAP connector under faults (expired CSRF tokens and sessions, wrong passwords, untrusted
certificates) and its settings from the connection's extras, and its checks."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import certifi
import pytest
import requests

from connectors.errors import AuthError, ConfigError
from connectors.sap import SapConnector
from sandbox.faults import FaultConfig
from tests.connectors.sap.kit import (
    CUSTOMER,
    ORDER,
    PRICE,
    PRODUCT,
    SETTINGS,
    SMALL,
    connect,
    fake_connection,
    partner,
    partners_with_ext_id,
    read_all,
)


def test_injected_429s_503s_and_timeouts_change_nothing_in_the_results(sandbox_factory, small) -> None:
    calm = sandbox_factory(data_dir=small, page_size=5)
    clean = {e.entity: {k: r.payload for k, r in read_all(connect(), e).items()} for e in (CUSTOMER, ORDER)}
    clean_writes = connect().write_batch(CUSTOMER, [partner(f"SH-F-{i}") for i in range(30)])
    calm.stop()

    faulty = sandbox_factory(
        data_dir=small,
        page_size=5,
        erp_faults=FaultConfig(rate_429=0.1, rate_503=0.1, rate_timeout=0.1, timeout_seconds=1.0, seed=3),
    )
    connector = connect(timeout=0.5, batch_size=10)
    noisy = {e.entity: {k: r.payload for k, r in read_all(connector, e).items()} for e in (CUSTOMER, ORDER)}
    noisy_writes = connector.write_batch(CUSTOMER, [partner(f"SH-F-{i}") for i in range(30)])

    assert sum(faulty.erp_faults.injected.values()) >= 3
    assert noisy == clean
    assert [(o.key, o.status, o.remote_key) for o in noisy_writes] == [
        (o.key, o.status, o.remote_key) for o in clean_writes
    ]
    assert all(len(partners_with_ext_id(faulty, f"SH-F-{i}")) == 1 for i in range(30))


def test_an_expired_csrf_token_is_fetched_again_once(sandbox_factory, small) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connector = connect()
    connector.write_batch(CUSTOMER, [partner("SH-X-1")])
    sessions = sandboxes.erp.server.config.app.state.sessions
    for cookie in connector.session.cookies:
        if cookie.name.startswith("SAP_SESSIONID"):
            sessions.expire(cookie.value)  # the logon session, and its CSRF token with it, times out
    [outcome] = connector.write_batch(CUSTOMER, [partner("SH-X-2")])
    assert outcome.status == "created"
    assert connector.usage.by_operation["csrf"] == 2


def test_expired_sessions_injected_on_writes_are_recovered(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small, erp_faults=FaultConfig(rate_expired_session=0.3, seed=4))
    connector = connect(batch_size=2)
    outcomes = connector.write_batch(CUSTOMER, [partner(f"SH-Y-{i}") for i in range(8)])
    assert {o.status for o in outcomes} == {"created"}
    refreshes = connector.usage.by_operation["csrf"] - 1
    assert refreshes >= 1
    assert connector.usage.by_operation["batch"] == 4 + refreshes  # each refused $batch sent once more


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(
    sandbox_factory, small, monkeypatch
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["password"] = "Wrong-Secret-42"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    with pytest.raises(AuthError) as info:
        list(connect().extract_changed(CUSTOMER, None))
    message = str(info.value)
    assert "Wrong-Secret-42" not in message and "synchub_erp" in message and connection["login"] in message


def test_the_connections_ca_bundle_wins_over_the_environment(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # public CAs only: not the sandbox's
    plain = requests.Session()
    plain.verify = str(sandboxes.ca_bundle)
    with pytest.raises(requests.exceptions.SSLError):  # the trap: the environment overrides verify
        plain.get(sandboxes.erp_url + "/sap/opu/odata/sap/API_PRODUCT_SRV/$metadata")
    assert len(read_all(connect(), PRODUCT)) == SMALL.products


def test_without_a_ca_bundle_an_untrusted_certificate_is_a_config_error(
    sandbox_factory, small, monkeypatch
) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    del connection["extra"]["verify"]
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with pytest.raises(ConfigError, match="TLS verification"):
        list(connect().extract_changed(PRODUCT, None))


# ---------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("extra", "value"),
    [
        ("synchub_batch_size", "many"),
        ("synchub_page_size", "0"),
        ("synchub_request_timeout_seconds", "-1"),
        ("verify", "false"),
        ("synchub_ca_bundle", "/nope"),
        ("verify", "/nope/ca.pem"),
        ("timeout", "-1"),  # an old bare name, read still
    ],
)
def test_bad_extras_fail_fast_naming_the_connection_and_the_extra(monkeypatch, extra, value) -> None:
    fake_connection(monkeypatch, **{extra: value})
    with pytest.raises(ConfigError) as info:
        SapConnector.from_airflow()
    assert "synchub_erp" in str(info.value) and extra in str(info.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"verify": certifi.where()}, certifi.where()),  # the http provider's own extra: a CA file
        ({"verify": True, "synchub_ca_bundle": None}, None),  # the system's CAs
        ({"verify": "true", "synchub_ca_bundle": None}, None),
        ({}, certifi.where()),  # synchub_ca_bundle, read when verify names no file
    ],
)
def test_the_verify_extra_names_the_ca_file_or_the_system_cas(monkeypatch, extra, expected) -> None:
    fake_connection(monkeypatch, **extra)
    assert SapConnector.from_airflow().session.pinned_verify == expected


def test_extras_set_the_settings_by_name_and_empty_ones_keep_defaults(monkeypatch) -> None:
    fake_connection(monkeypatch, synchub_batch_size="25", synchub_page_size="", synchub_lookback_seconds=60,
                    synchub_retry_max_attempts="3", unrelated="ignored")  # fmt: skip
    connector = SapConnector.from_airflow()
    settings = connector.settings
    assert (settings.batch_size, settings.page_size) == (25, 1000)
    assert settings.look_back == dt.timedelta(seconds=60) and settings.retry.max_attempts == 3
    assert connector.session.headers["sap-client"] == "100" and "secret-pw" not in repr(connector)


def test_the_old_bare_names_of_the_extras_are_read_with_a_warning_naming_the_new_one(
    monkeypatch, caplog
) -> None:
    fake_connection(monkeypatch, look_back_seconds=60, timeout="5", synchub_batch_size="7", batch_size="9")
    with caplog.at_level("WARNING", logger="connectors.extras"):
        settings = SapConnector.from_airflow().settings
    assert settings.look_back == dt.timedelta(seconds=60) and settings.timeout == 5
    assert settings.batch_size == 7  # the synchub_ name wins over the old one
    assert "'look_back_seconds' is read under its old name; name it 'synchub_lookback_seconds'" in caplog.text
    assert "'timeout'" in caplog.text and "synchub_request_timeout_seconds" in caplog.text


def test_service_paths_from_the_connection_are_used(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["extra"]["service_paths"] = {"API_PRODUCT_SRV": "/sap/opu/odata/sap/NO_SUCH_SRV/"}
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    connector = SapConnector.from_airflow(settings=SETTINGS)
    assert connector.service_url("API_PRODUCT_SRV").endswith("/NO_SUCH_SRV/")
    with pytest.raises(ConfigError, match="NO_SUCH_SRV"):
        list(connector.extract_changed(PRODUCT, None))


def test_check_gives_a_verdict_per_service_and_entity(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    results = connect().check([CUSTOMER, PRODUCT, PRICE, ORDER])
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert {r.check for r in results} >= {
        "auth",
        "metadata:API_BUSINESS_PARTNER",
        "fields:customer",
        "read:order",
    }


def test_check_names_mapped_fields_that_do_not_exist_or_cannot_be_written(sandbox_factory, small) -> None:
    sandbox_factory(data_dir=small)
    broken = replace(
        CUSTOMER,
        sap=replace(CUSTOMER.sap, writable=(*CUSTOMER.sap.writable, "to_BusinessPartnerAddress/Nope",
                                            "CreationDate"), expand=("to_Nowhere",)),
    )  # fmt: skip
    [fields] = [r for r in connect().check([broken]) if r.check == "fields:customer"]
    assert not fields.ok
    assert "to_BusinessPartnerAddress/Nope" in fields.detail and "to_Nowhere" in fields.detail
    assert "CreationDate" in fields.detail


def test_check_reports_a_wrong_password_as_failed_auth(sandbox_factory, small, monkeypatch) -> None:
    sandboxes = sandbox_factory(data_dir=small)
    connection = sandboxes.erp_connection()
    connection["password"] = "nope-nope"
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(connection))
    results = {r.check: r for r in connect().check([PRODUCT])}
    assert not results["auth"].ok and "nope-nope" not in results["auth"].detail
    assert not results["fields:product"].ok


def test_pyodata_warnings_about_annotations_sap_metadata_carries_are_dropped_others_kept(caplog) -> None:
    import logging

    import connectors.sap  # noqa: F401  (installs the filter)

    model_log = logging.getLogger("pyodata.model")
    with caplog.at_level(logging.WARNING, logger="pyodata.model"):
        model_log.warning("Unsupported Annotation(Capabilities.FilterRestrictions)")
        model_log.warning("Invalid property type")
    assert [r.getMessage() for r in caplog.records if r.name == "pyodata.model"] == ["Invalid property type"]
