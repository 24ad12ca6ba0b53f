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
import sys
import time

import pyodata
import requests
from simple_salesforce import Salesforce

from bench.sandbox_process import sandboxes

ACCOUNT_FIELDS = (
    "Id, Name, BillingStreet, BillingCity, BillingPostalCode, BillingCountry, Phone, Website, "
    "Industry, VAT_Number__c, SAP_Customer_Number__c, DunsNumber, SyncHub_Id__c, SystemModstamp, "
    "IsDeleted"
)


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
    session.verify = conn["extra"]["synchub_ca_bundle"]
    session.params = {"sap-client": conn["extra"]["sap-client"]}
    base = f"{conn['schema']}://{conn['host']}:{conn['port']}"
    return pyodata.Client(f"{base}/sap/opu/odata/sap/API_BUSINESS_PARTNER/", session)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000, help="accounts and partners to seed")
    args = parser.parse_args()

    with sandboxes("--seed", "42", "--customers", str(args.customers)) as env:
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
    sys.exit(main())
