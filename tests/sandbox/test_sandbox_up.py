"""Both sandboxes together, as `synchub sandbox up` and the fixtures run them, reached only
through the Airflow connections they publish and the unmodified clients."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyodata
import pytest
import requests

from sandbox.datadir import read_data_dir
from sandbox.runner import RunningSandboxes, SandboxConfig, read_env_file, start_sandboxes
from sandbox.seed import SeedOptions
from tests.sandbox.oauth import password_grant

pytestmark = pytest.mark.integration
SMALL = SeedOptions(seed=42, customers=30, products=8, orders=10)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandboxes]:
    state = tmp_path_factory.mktemp("state")
    handle = start_sandboxes(SandboxConfig(seed=SMALL, crm_port=0, erp_port=0, state_dir=state))
    yield handle
    handle.stop()


@pytest.fixture
def connections_in_env(running: RunningSandboxes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM", json.dumps(running.crm_connection()))
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(running.erp_connection()))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_bundle))


def test_salesforce_hook_works_as_is_with_the_published_connection(running, connections_in_env) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    hook = SalesforceHook(salesforce_conn_id="synchub_crm")
    result = hook.make_query("SELECT Id, Name FROM Account")
    assert result["totalSize"] == SMALL.customers
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_pyodata_reads_partners_through_the_published_http_connection(running, connections_in_env) -> None:
    from mdm.demo import sap_session_from_connection

    session, base, client = sap_session_from_connection("synchub_erp")
    assert client == "100"
    odata = pyodata.Client(f"{base}/sap/opu/odata/sap/API_BUSINESS_PARTNER/", session)
    assert odata.entity_sets.A_BusinessPartner.get_entities().count().execute() == SMALL.customers


def test_the_ca_bundle_trusts_the_sandbox_and_still_the_public_cas(running) -> None:
    bundle = running.ca_bundle.read_text()
    assert running.tls.ca_cert.read_text().strip() in bundle
    assert bundle.count("BEGIN CERTIFICATE") > 50


def test_env_file_holds_the_three_exports(running, tmp_path) -> None:
    env = running.write_env(tmp_path / "sandbox.env")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env.read_text().splitlines()
        if line.startswith("export ")
    )
    assert set(exports) == {"AIRFLOW_CONN_SYNCHUB_CRM", "AIRFLOW_CONN_SYNCHUB_ERP", "REQUESTS_CA_BUNDLE"}
    crm = json.loads(shlex.split(exports["AIRFLOW_CONN_SYNCHUB_CRM"])[0])
    assert crm["conn_type"] == "salesforce"
    erp = json.loads(shlex.split(exports["AIRFLOW_CONN_SYNCHUB_ERP"])[0])
    assert (erp["conn_type"], erp["port"]) == ("http", running.erp.port)
    assert read_env_file(env) == {name: shlex.split(value)[0] for name, value in exports.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox.env"]  # written whole, no partial file left


def test_dump_writes_the_layout_that_data_reads_back(running, tmp_path) -> None:
    running.dump(tmp_path / "dump")
    data = read_data_dir(tmp_path / "dump")
    assert len(data.salesforce["Account"]) == SMALL.customers
    assert len(data.sap["API_BUSINESS_PARTNER"]["A_BusinessPartner"]) == SMALL.customers
    again = start_sandboxes(
        SandboxConfig(data_dir=tmp_path / "dump", crm_port=0, erp_port=0, state_dir=running.config.state_dir)
    )
    try:
        assert again.org.dump()["Account"] == running.org.dump()["Account"]
        assert again.sap.dump()["API_BUSINESS_PARTNER"] == running.sap.dump()["API_BUSINESS_PARTNER"]
    finally:
        again.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_synchub_sandbox_up_runs_in_the_foreground_and_stops_on_sigterm(tmp_path) -> None:
    env_file = tmp_path / "sandbox.env"
    synchub = Path(sys.executable).parent / "synchub"
    process = subprocess.Popen(
        [
            str(synchub),
            "sandbox",
            "up",
            "--seed",
            "7",
            "--customers",
            "12",
            "--products",
            "3",
            "--orders",
            "3",
            "--crm-port",
            str(_free_port()),
            "--erp-port",
            str(_free_port()),
            "--env-file",
            str(env_file),
            "--dump-on-exit",
            str(tmp_path / "dump"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "sandbox up did not write its env file"
            time.sleep(0.2)
        exports = read_env_file(env_file)
        crm = json.loads(exports["AIRFLOW_CONN_SYNCHUB_CRM"])
        token = requests.post(
            f"https://{crm['extra']['domain'].split('/')[0]}/services/oauth2/token",
            data=password_grant(crm),
            verify=exports["REQUESTS_CA_BUNDLE"],
            timeout=30,
        )
        assert token.status_code == 200, token.text
    finally:
        process.send_signal(signal.SIGTERM)
        out, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors.decode()
    assert "AIRFLOW_CONN_SYNCHUB_CRM" in out.decode()
    assert (tmp_path / "dump" / "salesforce" / "Account.jsonl").exists()


def test_synchub_sandbox_dump_fetches_both_states_over_https(running, tmp_path) -> None:
    from typer.testing import CliRunner

    from mdm.cli import app

    out = tmp_path / "dumped"
    result = CliRunner().invoke(
        app,
        [
            "sandbox",
            "dump",
            "--out",
            str(out),
            "--crm-url",
            running.crm_url,
            "--erp-url",
            running.erp_url,
            "--ca",
            str(running.tls.ca_cert),
        ],
    )
    assert result.exit_code == 0, result.output
    data = read_data_dir(out)
    assert len(data.salesforce["Account"]) == SMALL.customers
    assert len(data.sap["API_SALES_ORDER_SRV"]["A_SalesOrder"]) == len(
        running.sap.dump()["API_SALES_ORDER_SRV"]["A_SalesOrder"]
    )
