"""The `synchub sandbox` commands: `up` with its data, paging, HTTP and fault options (as a real
subprocess, reached through the env file it writes), `seed`, and `faults` against running sandboxes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from typer.testing import CliRunner

from mdm.cli import app
from sandbox.datadir import SandboxData, read_data_dir
from sandbox.runner import RunningSandboxes, SandboxConfig, read_env_file, start_sandboxes
from tests.sandbox.oauth import password_grant

pytestmark = pytest.mark.integration

API = "/services/data/v62.0"
BP_SERVICE = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
SEED_CUSTOMERS = 12
PAGE_SIZE = 5


# --------------------------------------------------------------------------------- `up` as a process
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class UpProcess:
    """A running `synchub sandbox up`, described by the export lines of its env file."""

    process: subprocess.Popen[bytes]
    exports: dict[str, str]

    @property
    def ca_bundle(self) -> str:
        return self.exports["REQUESTS_CA_BUNDLE"]

    @property
    def crm(self) -> dict[str, Any]:
        return json.loads(self.exports["AIRFLOW_CONN_SYNCHUB_CRM"])

    @property
    def erp(self) -> dict[str, Any]:
        return json.loads(self.exports["AIRFLOW_CONN_SYNCHUB_ERP"])

    @property
    def crm_url(self) -> str:
        return "https://" + self.crm["extra"]["domain"].split("/")[0]

    @property
    def erp_url(self) -> str:
        return f"{self.erp['schema']}://{self.erp['host']}:{self.erp['port']}"

    def http(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.ca_bundle
        session.trust_env = False  # the bundle of this process, whatever the environment says
        return session


def _read_exports(env_file: Path) -> dict[str, str] | None:
    """The export lines once the file is complete (REQUESTS_CA_BUNDLE is the last one written)."""
    if not env_file.exists():
        return None
    exports = read_env_file(env_file)
    return exports if "REQUESTS_CA_BUNDLE" in exports else None


@contextmanager
def sandbox_up(workdir: Path, *options: str) -> Iterator[UpProcess]:
    """Run `synchub sandbox up` on free ports until the block ends, then stop it with SIGTERM."""
    env_file = workdir / "sandbox.env"
    synchub = Path(sys.executable).parent / "synchub"
    command = [
        str(synchub),
        "sandbox",
        "up",
        "--crm-port",
        str(_free_port()),
        "--erp-port",
        str(_free_port()),
        "--env-file",
        str(env_file),
        *options,
    ]
    with (workdir / "up.out").open("wb") as out, (workdir / "up.err").open("wb") as err:
        process = subprocess.Popen(
            command, stdout=out, stderr=err, cwd=workdir, env={**os.environ, "COLUMNS": "200"}
        )
        try:
            deadline = time.monotonic() + 60
            while (exports := _read_exports(env_file)) is None:
                assert process.poll() is None, (workdir / "up.err").read_text()
                assert time.monotonic() < deadline, "sandbox up did not write its env file"
                time.sleep(0.1)
            yield UpProcess(process, exports)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0, (workdir / "up.err").read_text()


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli-seed") / "data"
    result = CliRunner().invoke(
        app,
        [
            "sandbox",
            "seed",
            "--out",
            str(out),
            "--seed",
            "5",
            "--customers",
            str(SEED_CUSTOMERS),
            "--products",
            "3",
            "--orders",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def seeded(seed_dir: Path) -> SandboxData:
    return read_data_dir(seed_dir)


@pytest.fixture(scope="module")
def from_data(tmp_path_factory: pytest.TempPathFactory, seed_dir: Path) -> Iterator[UpProcess]:
    """`sandbox up --data DIR --page-size 5 --erp-http`, one process for the tests that read it."""
    workdir = tmp_path_factory.mktemp("cli-up-data")
    with sandbox_up(workdir, "--data", str(seed_dir), "--page-size", str(PAGE_SIZE), "--erp-http") as up:
        yield up


def _salesforce(up: UpProcess) -> Salesforce:
    crm = up.crm
    http = up.http()
    token = http.post(
        f"{up.crm_url}/services/oauth2/token",
        data=password_grant(crm),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    return Salesforce(
        instance_url=up.crm_url, session_id=token.json()["access_token"], session=http, version="62.0"
    )


def test_sandbox_up_with_fault_503_answers_503_on_both_sandboxes(tmp_path: Path) -> None:
    with sandbox_up(tmp_path, "--fault-503", "1.0") as up:
        http = up.http()
        crm = http.get(f"{up.crm_url}{API}/limits", timeout=30)
        erp = http.get(f"{up.erp_url}{BP_SERVICE}", auth=(up.erp["login"], up.erp["password"]), timeout=30)
        http.close()

    assert crm.status_code == 503
    assert crm.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert erp.status_code == 503


def test_sandbox_up_with_data_serves_exactly_the_seeded_accounts(
    from_data: UpProcess, seeded: SandboxData
) -> None:
    sf = _salesforce(from_data)

    result = sf.query_all("SELECT Id, Name, IsDeleted FROM Account", include_deleted=True)

    served = {(r["Id"], r["Name"], r["IsDeleted"]) for r in result["records"]}
    expected = {(r["Id"], r["Name"], bool(r.get("IsDeleted"))) for r in seeded.salesforce["Account"]}
    assert served == expected
    assert len(served) >= SEED_CUSTOMERS
    sf.session.close()


def _partner_pages(up: UpProcess) -> list[list[str]]:
    http = up.http()
    http.auth = (up.erp["login"], up.erp["password"])
    pages = []
    url: str | None = f"{up.erp_url}{BP_SERVICE}A_BusinessPartner"
    params: dict[str, str] | None = {"$format": "json", "$select": "BusinessPartner"}
    while url is not None:
        response = http.get(url, params=params, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()["d"]
        pages.append([r["BusinessPartner"] for r in body["results"]])
        url, params = body.get("__next"), None
    http.close()
    return pages


def test_page_size_option_makes_sap_page_by_that_size(from_data: UpProcess, seeded: SandboxData) -> None:
    pages = _partner_pages(from_data)

    expected = sorted(r["BusinessPartner"] for r in seeded.sap["API_BUSINESS_PARTNER"]["A_BusinessPartner"])
    full, rest = divmod(len(expected), PAGE_SIZE)
    assert [len(p) for p in pages] == [PAGE_SIZE] * full + ([rest] if rest else [])
    assert sorted(key for page in pages for key in page) == expected


def test_erp_http_serves_sap_over_plain_http(from_data: UpProcess) -> None:
    auth = (from_data.erp["login"], from_data.erp["password"])
    metadata_path = f"127.0.0.1:{from_data.erp['port']}{BP_SERVICE}$metadata"

    plain = requests.get(f"http://{metadata_path}", auth=auth, timeout=30)

    assert from_data.erp["schema"] == "http"
    assert plain.status_code == 200 and "<edmx:Edmx" in plain.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{metadata_path}", auth=auth, verify=from_data.ca_bundle, timeout=30)


# ------------------------------------------------------------------------------------------- `faults`
@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandboxes]:
    state = tmp_path_factory.mktemp("cli-faults-state")
    handle = start_sandboxes(SandboxConfig(crm_port=0, erp_port=0, state_dir=state))
    yield handle
    handle.stop()


@pytest.fixture
def sandboxes(running: RunningSandboxes) -> Iterator[RunningSandboxes]:
    """The in-process sandboxes with every fault off before and after the test."""
    running.crm_faults.reset()
    running.erp_faults.reset()
    yield running
    running.crm_faults.reset()
    running.erp_faults.reset()


def faults_cli(running: RunningSandboxes, url: str, *options: str) -> Any:
    return CliRunner().invoke(app, ["sandbox", "faults", url, *options, "--ca", str(running.tls.ca_cert)])


def _crm_limits(running: RunningSandboxes) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        http.verify = str(running.tls.ca_cert)
        headers = {"Authorization": f"Bearer {running.org.issue_session()}"}
        return http.get(f"{running.crm_url}{API}/limits", headers=headers, timeout=30)


def _erp_service(running: RunningSandboxes) -> requests.Response:
    user, password = next(iter(running.sap.users.items()))
    with requests.Session() as http:
        http.trust_env = False
        http.verify = str(running.tls.ca_cert)
        return http.get(f"{running.erp_url}{BP_SERVICE}", auth=(user, password), timeout=30)


def test_faults_command_sets_a_rate_the_salesforce_sandbox_applies_at_once(
    sandboxes: RunningSandboxes,
) -> None:
    result = faults_cli(sandboxes, sandboxes.crm_url, "--rate-503", "1")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["rate_503"] == 1.0
    response = _crm_limits(sandboxes)
    assert response.status_code == 503
    assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_faults_reset_restores_normal_answers(sandboxes: RunningSandboxes) -> None:
    faults_cli(sandboxes, sandboxes.crm_url, "--rate-503", "1", "--latency-ms", "50")
    assert _crm_limits(sandboxes).status_code == 503

    result = faults_cli(sandboxes, sandboxes.crm_url, "--reset")

    assert result.exit_code == 0, result.output
    config = json.loads(result.output)["config"]
    assert (config["rate_503"], config["latency_ms"]) == (0.0, 0)
    assert _crm_limits(sandboxes).status_code == 200


def test_faults_command_changes_the_sap_sandbox_only(sandboxes: RunningSandboxes) -> None:
    result = faults_cli(sandboxes, sandboxes.erp_url, "--rate-429", "1")

    assert result.exit_code == 0, result.output
    assert _erp_service(sandboxes).status_code == 429
    assert _crm_limits(sandboxes).status_code == 200


def test_faults_command_without_options_shows_config_and_counters(sandboxes: RunningSandboxes) -> None:
    faults_cli(sandboxes, sandboxes.crm_url, "--rate-503", "1")
    _crm_limits(sandboxes)

    result = faults_cli(sandboxes, sandboxes.crm_url)

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["config"]["rate_503"] == 1.0
    assert shown["injected"]["503"] == sandboxes.crm_faults.injected["503"] >= 1


def test_faults_command_rejects_an_out_of_range_rate(sandboxes: RunningSandboxes) -> None:
    result = faults_cli(sandboxes, sandboxes.crm_url, "--rate-503", "2")

    assert result.exit_code == 1
    assert "rate_503" in result.output
    assert sandboxes.crm_faults.config.rate_503 == 0.0
    assert _crm_limits(sandboxes).status_code == 200
