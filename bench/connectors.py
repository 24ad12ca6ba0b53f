"""Benchmark of the connectors against seeded sandboxes (issue 3).

Starts ``synchub sandbox up --seed 42 --customers 50000`` (50,000 accounts and 50,000 partners) as a
separate process, then through SyncHub's connectors (on the Airflow connections it publishes):
- extracts every customer from each system and reports records per second;
- writes new customers and reports API calls per 1,000 records written: Salesforce via sObject
  Collections (target <= 6) and via Bulk API 2.0 (target <= 1), SAP via $batch;
- reports the peak memory (max RSS) of this process and how much each phase added to it.

Run: ``make bench-connectors`` or ``.venv/bin/python -m bench.connectors [--customers N]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from bench.sandbox_process import sandboxes
from connectors.base import WriteRecord
from mdm.config import entity_source


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def extract_all(connector, source) -> tuple[int, float]:
    started = time.perf_counter()
    records = 0
    for page in connector.extract_changed(source, None):
        records += len(page.records)
    return records, time.perf_counter() - started


def salesforce_records(n: int, prefix: str) -> list[WriteRecord]:
    return [
        WriteRecord(
            key=f"{prefix}-{i}",
            fields={
                "Name": f"Bench Customer {prefix} {i}",
                "BillingCity": "Berlin",
                "BillingCountry": "Germany",
                "SyncHub_Id__c": f"{prefix}-{i}",
            },
        )
        for i in range(n)
    ]


def sap_records(n: int, prefix: str) -> list[WriteRecord]:
    return [
        WriteRecord(
            key=f"{prefix}-{i}",
            fields={
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": f"Bench Customer {i}",
                "BusinessPartnerIDByExtSystem": f"{prefix}-{i}",
                "Language": "EN",
                "to_BusinessPartnerAddress": [
                    {
                        "Country": "DE",
                        "CityName": "Berlin",
                        "PostalCode": "10115",
                        "StreetName": "Hauptstrasse",
                        "HouseNumber": str(i % 200 + 1),
                    }
                ],
                "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
            },
        )
        for i in range(n)
    ]


def timed_write(connector, source, records: list[WriteRecord]) -> tuple[float, int, int]:
    calls_before = connector.usage.calls
    started = time.perf_counter()
    outcomes = connector.write_batch(source, records)
    seconds = time.perf_counter() - started
    failed = sum(o.status == "failed" for o in outcomes)
    return seconds, connector.usage.calls - calls_before, failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000, help="accounts and partners to seed")
    parser.add_argument(
        "--collections-writes", type=int, default=1_999, help="records written via collections"
    )
    parser.add_argument("--bulk-writes", type=int, default=10_000, help="records written via Bulk API 2.0")
    parser.add_argument("--sap-writes", type=int, default=1_000, help="partners created via $batch")
    args = parser.parse_args()

    from connectors.salesforce import SalesforceConnector
    from connectors.sap import SapConnector

    source = entity_source("customer")
    ok = True
    with sandboxes("--seed", "42", "--customers", str(args.customers), "--products", "20", "--orders", "20"):
        baseline = max_rss_mb()
        crm = SalesforceConnector.from_airflow("synchub_crm")
        erp = SapConnector.from_airflow("synchub_erp")

        print(f"\n{'extract (full)':34} {'records':>8} {'seconds':>8} {'rec/s':>8} {'max RSS MB':>11}")
        for name, connector in (("salesforce Account", crm), ("sap A_BusinessPartner + expands", erp)):
            count, seconds = extract_all(connector, source)
            print(
                f"{name:34} {count:8d} {seconds:8.2f} {count / seconds:8.0f} {max_rss_mb():11.0f}", flush=True
            )
            ok &= count >= args.customers

        header = ("write", "records", "seconds", "calls", "calls/1k", "target", "failed")
        print("\n{:34} {:>8} {:>8} {:>6} {:>9} {:>7} {:>7}".format(*header))
        for name, connector, records, target in (
            ("salesforce collections upsert", crm, salesforce_records(args.collections_writes, "BC"), 6.0),
            ("salesforce Bulk API 2.0 upsert", crm, salesforce_records(args.bulk_writes, "BB"), 1.0),
            ("sap $batch deep insert", erp, sap_records(args.sap_writes, "BS"), None),
        ):
            seconds, calls, failed = timed_write(connector, source, records)
            per_k = calls * 1000 / len(records)
            verdict = "" if target is None else ("PASS" if per_k <= target else "FAIL")
            ok &= (target is None or per_k <= target) and failed == 0
            print(
                f"{name:34} {len(records):8d} {seconds:8.2f} {calls:6d} {per_k:9.2f} "
                f"{'<=' + str(target) if target else '-':>7} {failed:7d} {verdict}",
                flush=True,
            )

    print(
        f"\npeak memory (max RSS) of this process: {max_rss_mb():.0f} MB "
        f"({max_rss_mb() - baseline:+.0f} MB over the {baseline:.0f} MB after start-up)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
