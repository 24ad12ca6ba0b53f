"""Benchmark: full reads from seeded sandboxes through the real clients.

Starts ``synchub sandbox up --seed 42 --customers 10000`` (10,000 accounts and 10,000 partners)
as a separate process, then measures
- a full ``query_all`` of accounts through simple-salesforce (target: under 10 s), and
- a full pyodata read of business partners with their addresses (``$expand``, following
  ``__next`` pages; target: under 20 s).

Run: ``make bench`` or ``.venv/bin/python bench/sandbox_reads.py [--customers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyodata
import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_FIELDS = (
    "Id, Name, BillingStreet, BillingCity, BillingPostalCode, BillingCountry, Phone, Website, "
    "Industry, VAT_Number__c, SAP_Customer_Number__c, DunsNumber, SyncHub_Id__c, SystemModstamp, "
    "IsDeleted"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
    return env


def start_sandboxes(customers: int, env_file: Path) -> subprocess.Popen[bytes]:
    command = [
        str(ROOT / ".venv" / "bin" / "synchub"),
        "sandbox",
        "up",
        "--seed",
        "42",
        "--customers",
        str(customers),
        "--crm-port",
        str(free_port()),
        "--erp-port",
        str(free_port()),
        "--env-file",
        str(env_file),
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(env_file: Path, process: subprocess.Popen[bytes], timeout: float = 900) -> float:
    started = time.monotonic()
    while not env_file.exists():
        if process.poll() is not None:
            raise SystemExit(
                f"sandbox exited early: {process.stderr.read().decode() if process.stderr else ''}"
            )
        if time.monotonic() - started > timeout:
            raise SystemExit("sandboxes did not start in time")
        time.sleep(0.2)
    return time.monotonic() - started


def salesforce_client(env: dict[str, str]) -> Salesforce:
    conn = json.loads(env["AIRFLOW_CONN_SYNCHUB_CRM"])
    extra = conn["extra"]
    session = requests.Session()
    session.verify = env["REQUESTS_CA_BUNDLE"]
    return Salesforce(
        username=conn["login"],
        password=conn["password"],
        consumer_key=extra["consumer_key"],
        consumer_secret=extra["consumer_secret"],
        domain=extra["domain"],
        version=extra["version"],
        session=session,
    )


def sap_client(env: dict[str, str]) -> pyodata.Client:
    conn = json.loads(env["AIRFLOW_CONN_SYNCHUB_ERP"])
    session = requests.Session()
    session.auth = (conn["login"], conn["password"])
    session.verify = conn["extra"]["ca_bundle"]
    session.params = {"sap-client": conn["extra"]["sap-client"]}
    base = f"{conn['schema']}://{conn['host']}:{conn['port']}"
    return pyodata.Client(f"{base}/sap/opu/odata/sap/API_BUSINESS_PARTNER/", session)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000, help="accounts and partners to seed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "sandbox.env"
        process = start_sandboxes(args.customers, env_file)
        try:
            startup = wait_for(env_file, process)
            env = read_env(env_file)
            # As after `source var/sandbox.env`: requests lets this variable override session.verify.
            os.environ["REQUESTS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"]
            print(f"sandboxes seeded and up in {startup:.1f} s", flush=True)

            sf = salesforce_client(env)
            started = time.perf_counter()
            result = sf.query_all(f"SELECT {ACCOUNT_FIELDS} FROM Account")
            sf_seconds = time.perf_counter() - started
            accounts = len(result["records"])

            client = sap_client(env)
            started = time.perf_counter()
            partners = addresses = pages = 0
            request = client.entity_sets.A_BusinessPartner.get_entities().expand("to_BusinessPartnerAddress")
            while True:
                page = request.execute()
                pages += 1
                partners += len(page)
                addresses += sum(len(p.to_BusinessPartnerAddress) for p in page)
                if not page.next_url:
                    break
                request = client.entity_sets.A_BusinessPartner.get_entities().next_url(page.next_url)
            sap_seconds = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(30)

    rows = [
        ("simple-salesforce query_all(Account)", accounts, sf_seconds, 10.0),
        ("pyodata A_BusinessPartner + addresses", partners, sap_seconds, 20.0),
    ]
    print(f"\n{'read':40} {'records':>8} {'seconds':>8} {'rec/s':>8} {'target':>8}  verdict")
    ok = True
    for name, count, seconds, target in rows:
        verdict = "PASS" if seconds < target else "FAIL"
        ok &= seconds < target
        print(f"{name:40} {count:8d} {seconds:8.2f} {count / seconds:8.0f} {'<' + str(target):>8}  {verdict}")
    print(f"(SAP: {addresses} addresses in {pages} pages)")
    expected = args.customers
    if accounts != expected or partners != expected:
        print(f"FAIL: expected {expected} accounts and partners, read {accounts} and {partners}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
