"""Benchmark of the master-data core (issue 4): stage, match and merge at volume, without the network.

Generates seed data (default 100,000 CRM accounts + 100,000 SAP partners), then on a fresh store
(SQLite in a temporary folder, or ``--database-url``) runs the pipeline's own steps:
- stage: ``mdm.pipeline.stage_payloads`` for each system (raw payloads in the connectors' shape ->
  staged source records with lineage -> canonical records);
- match: ``mdm.pipeline.match`` (xref, deterministic and fuzzy rules, linking to golden ids);
- merge: ``mdm.pipeline.merge`` (survivorship, versions, provenance);
and prints records per second per step, the pairwise precision and recall of the auto links against
the generator's truth, and the peak memory (max RSS) of this process.

Run: ``make bench-master-data`` or ``.venv/bin/python -m bench.master_data [--customers N]``.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from mdm import pipeline
from mdm.store.db import make_engine, session_factory, upgrade_database
from mdm.store.models import Xref
from sandbox.seed import BP_SERVICE, SeedOptions, expanded_partners, generate


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pairs(groups: list[list[tuple[str, str]]]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    out = set()
    for group in groups:
        for a, b in itertools.combinations(sorted(group), 2):
            out.add((a, b))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000, help="accounts, and as many partners")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="an EMPTY store to use instead of a temporary SQLite file")
    args = parser.parse_args()

    started = time.perf_counter()
    data, truth = generate(SeedOptions(seed=args.seed, customers=args.customers, products=1, orders=0))
    accounts = data.salesforce["Account"]
    partners = expanded_partners(data.sap[BP_SERVICE])
    print(
        f"seed {args.seed}: {len(accounts)} accounts, {len(partners)} partners generated in "
        f"{time.perf_counter() - started:.1f} s; max RSS {max_rss_mb():.0f} MB",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        rows = []

        def step(name: str, records: int, fn):  # noqa: ANN001, ANN202 - tiny timing wrapper
            before = time.perf_counter()
            stats = fn()
            seconds = time.perf_counter() - before
            rows.append((name, records, seconds, max_rss_mb()))
            print(
                f"  {name:22} {records:8d} records {seconds:8.1f} s {records / seconds:8.0f} rec/s "
                f"max RSS {max_rss_mb():6.0f} MB",
                flush=True,
            )
            return stats

        print("\nstep                      records    seconds    rec/s")
        step(
            "stage salesforce",
            len(accounts),
            lambda: pipeline.stage_payloads("customer", "salesforce", accounts, sessions=sessions),
        )
        step(
            "stage sap",
            len(partners),
            lambda: pipeline.stage_payloads("customer", "sap", partners, sessions=sessions),
        )
        total = len(accounts) + len(partners)
        step("quality", total, lambda: pipeline.quality("customer", sessions=sessions))
        match_stats = step("match (+ link)", total, lambda: pipeline.match("customer", sessions=sessions))
        merge_stats = step("merge", total, lambda: pipeline.merge("customer", sessions=sessions))

        with sessions() as session:
            by_golden: dict[str, list[tuple[str, str]]] = {}
            for golden_id, system, key in session.execute(
                select(Xref.golden_id, Xref.system, Xref.source_key).where(Xref.entity == "customer")
            ):
                by_golden.setdefault(golden_id, []).append((system, key))
        engine.dispose()

    truth_groups = [
        [("salesforce", k) for k in c["salesforce"]] + [("sap", k) for k in c["sap"]]
        for c in truth["customers"]
    ]
    expected, predicted = pairs(truth_groups), pairs(list(by_golden.values()))
    true_positive = len(expected & predicted)
    precision = true_positive / max(len(predicted), 1)
    recall = true_positive / max(len(expected), 1)
    print(
        f"\nmatch: {match_stats.get('auto_linked')} auto links, {match_stats.get('review')} in review; "
        f"merge: {merge_stats.get('golden')} golden records"
    )
    print(
        f"pairwise precision {precision:.4f} (target >= 0.99), recall {recall:.4f} (target >= 0.95) "
        f"over {len(expected)} true pairs"
    )
    print(f"peak memory (max RSS): {max_rss_mb():.0f} MB")
    return 0 if precision >= 0.99 and recall >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
