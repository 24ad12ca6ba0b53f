"""Benchmark of match quality and speed (issue 10): SyncHub's match against Splink 5 on the same data.

For each size (default 2,000, 20,000 and 200,000 records per side) the seed's hard customer set
(``SeedOptions(hard_cases=0.25)``: sister companies, branches, one family's firms, franchises, crowded
postal codes, missing tax ids) is generated and mapped to canonical records through the real mapping
(``mappings/customer.yaml``), once, into ``var/bench/match/`` (or ``--data DIR``: a sandbox data folder
with its ``truth.json``, such as one written by another generator). Then, each in a fresh process:

- SyncHub: ``mdm.match.match_records``: the model is learnt from the records (u from random pairs, m by
  EM, the prior), candidate pairs scored, clusters formed with the constraints; thresholds are the
  mapping's, chosen without the truth;
- Splink 5 on DuckDB, unsupervised: u by random sampling, the prior from deterministic rules, m by EM
  over two blocking rules, predictions over the same kind of blocking, clusters at 0.99 (Splink's
  usual threshold), on the same canonical values (SyncHub's own normalised keys, so both see one input).

Printed per size and engine: pairwise precision, recall and F1 against the truth, wall time (training,
prediction, clustering) and the process's peak memory (max RSS). Splink comes from
``bench/requirements-splink.txt`` (``make bench-match`` installs it; it is not a SyncHub dependency).

Run: ``make bench-match`` or ``.venv/bin/python -m bench.match_quality [--sizes 2000,20000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench" / "match"
SPLINK_THRESHOLD = 0.99


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ----------------------------------------------------------------------------------------------


def _records_from_data(data: Any) -> list[dict[str, Any]]:
    """Canonical customer records of a sandbox data set, through the real mapping."""
    from mdm.canonical import to_canonical
    from mdm.config import load_mapping, mappings_dir
    from sandbox.seed import BP_SERVICE, expanded_partners

    mapping = load_mapping(mappings_dir() / "customer.yaml")
    read = mapping.source.salesforce.fields
    out = []
    for account in data.salesforce.get("Account", []):
        values = to_canonical(mapping, "salesforce", {f: account.get(f) for f in read}).values
        out.append({"system": "salesforce", "key": account["Id"], "values": values})
    for partner in expanded_partners(data.sap.get(BP_SERVICE, {})):
        values = to_canonical(mapping, "sap", partner).values
        out.append({"system": "sap", "key": partner["BusinessPartner"], "values": values})
    for record in out:
        record["hash"] = hashlib.sha256(
            json.dumps(record["values"], sort_keys=True, default=str).encode()
        ).hexdigest()
    return out


def _add_keys(records: list[dict[str, Any]]) -> float:
    """The match keys of every record (``mdm.match.pool.prepare_keys``): the normalised comparison
    values both engines start from. Returns the seconds it took."""
    from mdm.config import load_mapping, mappings_dir
    from mdm.match import MatchRecord
    from mdm.match.pool import prepare_keys

    config = load_mapping(mappings_dir() / "customer.yaml").match
    started = time.perf_counter()
    keys = prepare_keys([MatchRecord(r["system"], r["key"], r["values"], r["hash"]) for r in records], config)
    for i, record in enumerate(records):
        record["keys"] = {key: column[i] for key, column in keys.items()}
    seconds = time.perf_counter() - started
    print(
        f"  match keys of {len(records)} records prepared in {seconds:.1f} s "
        "(the same input for both engines)"
    )
    return seconds


def prepare(size: int, seed: int, hard: float, data_dir: Path | None) -> Path:
    """The canonical records and truth of one data set, in a cache folder (built once)."""
    # The prepared records depend on the mapping and the transforms: a change to either prepares anew.
    code = hashlib.sha256()
    sources = [ROOT / "mappings/customer.yaml", ROOT / "mdm/canonical.py", ROOT / "mdm/normalise.py"]
    sources += sorted((ROOT / "mdm/transform").glob("*.py")) + [ROOT / "mdm/match/features.py"]
    for path in sources:
        code.update(path.read_bytes())
    version = code.hexdigest()[:8]
    if data_dir is not None:
        folder = CACHE / f"data-{hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:10]}-{version}"
    else:
        folder = CACHE / f"seed{seed}-n{size}-hard{hard}-{version}"
    if (folder / "records.jsonl").exists() and (folder / "truth.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if data_dir is not None:
        from sandbox.datadir import read_data_dir

        data = read_data_dir(data_dir)
        truth = json.loads((data_dir / "truth.json").read_text())
    else:
        from sandbox.seed import SeedOptions, generate

        data, truth = generate(SeedOptions(seed=seed, customers=size, products=0, orders=0, hard_cases=hard))
    records = _records_from_data(data)
    _add_keys(records)
    with (folder / "records.jsonl.tmp").open("w") as fh:
        for record in records:
            fh.write(json.dumps(record, default=str) + "\n")
    (folder / "truth.json").write_text(json.dumps({"customers": truth["customers"]}))
    (folder / "records.jsonl.tmp").rename(folder / "records.jsonl")
    print(
        f"  prepared {len(records)} canonical records in {time.perf_counter() - started:.0f} s -> {folder}",
        flush=True,
    )
    return folder


def _load(folder: Path) -> list[dict[str, Any]]:
    with (folder / "records.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


# --- engines (each runs in its own process) ----------------------------------------------------------


def run_synchub(folder: Path) -> dict[str, Any]:
    from mdm.config import load_mapping, mappings_dir
    from mdm.match import MatchRecord, match_records

    rows = _load(folder)
    records = [MatchRecord(r["system"], r["key"], r["values"], r["hash"]) for r in rows]
    prepared = {key: [r["keys"][key] for r in rows] for key in rows[0]["keys"]} if rows else {}
    del rows
    config = load_mapping(mappings_dir() / "customer.yaml").match
    started = time.perf_counter()
    result = match_records(records, config, prepared=prepared)
    seconds = time.perf_counter() - started
    stats = result.stats
    return {
        "clusters": [c.members for c in result.clusters if len(c.members) > 1],
        "seconds": seconds,
        "train_seconds": stats.get("training_seconds", 0.0),
        # Blocking and scoring, as Splink's predict does both.
        "predict_seconds": stats.get("candidate_seconds", 0.0) + stats.get("scoring_seconds", 0.0),
        "cluster_seconds": stats.get("clustering_seconds", 0.0),
        "setup_seconds": stats.get("feature_seconds", 0.0),
        "review": stats.get("review", 0),
        "candidates": sum(stats.get("candidate_pairs", {}).values()),
    }


def _splink_frame(folder: Path):  # noqa: ANN202 - a pandas DataFrame (pandas comes with Airflow)
    """Splink's input: one row per record with the prepared match keys as columns."""
    import pandas as pd

    from mdm.config import load_mapping, mappings_dir
    from mdm.match.pool import feature_key

    rows = _load(folder)
    config = load_mapping(mappings_dir() / "customer.yaml").match
    # One column per SyncHub comparison, of the same prepared key (the name's core for "name_core").
    columns = {
        ("name_core" if c.name == "name" else c.name): feature_key(c.feature) for c in config.comparisons
    }
    columns["postal"] = columns.pop("postal_code")
    table: dict[str, list[Any]] = {"unique_id": [f"{r['system']}|{r['key']}" for r in rows]}
    for name, key in columns.items():
        table[name] = [r["keys"][key] for r in rows]
    table["name_first"] = [core.split(" ", 1)[0] if core else None for core in table["name_core"]]
    return pd.DataFrame(table)


def run_splink(folder: Path) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = _splink_frame(folder)
    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name_core", [0.94, 0.88]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("legal_form"),
            cl.ExactMatch("country"),
            cl.LevenshteinAtThresholds("postal", [1]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("city", [0.9]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("street", [0.9]),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("domain").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("vat", [1]),
            cl.ExactMatch("duns"),
            cl.ExactMatch("erp_number"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("vat"),
            block_on("erp_number"),
            block_on("name_core"),
            block_on("postal", "name_first"),
            block_on("country", "name_first", "city"),
            block_on("country", "street"),
            block_on("phone"),
            block_on("domain"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    setup = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("vat"), block_on("erp_number")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_core"))
    # A second session for the name's own m. Splink's EM stops on some data with an m that underflows
    # float64 ("m_probability value ... is below the minimum allowed"); take the first that completes.
    for rule in (("country", "street"), ("postal",), ("postal", "name_first"), ("phone",)):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
            break
        except ValueError as exc:
            print(
                f"  splink: EM blocked on {'+'.join(rule)} failed ({str(exc)[:60]}...); trying the next",
                flush=True,
            )
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    predicted = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD
    ).as_pandas_dataframe()
    done = time.perf_counter()
    groups: dict[Any, list[tuple[str, str]]] = {}
    for uid, cluster in zip(clusters["unique_id"], clusters["cluster_id"], strict=True):
        system, key = uid.split("|", 1)
        groups.setdefault(cluster, []).append((system, key))
    return {
        "clusters": [g for g in groups.values() if len(g) > 1],
        "seconds": predicted - started,  # train + predict (with Splink's setup), as the issue compares
        "setup_seconds": setup - started,
        "train_seconds": trained - setup,
        "predict_seconds": predicted - trained,
        "cluster_seconds": done - predicted,
        "review": 0,
        "candidates": None,
    }


ENGINES = {"synchub": run_synchub, "splink": run_splink}


def _child(engine: str, folder: Path, out: Path) -> None:
    result = ENGINES[engine](folder)
    result["max_rss_mb"] = max_rss_mb()
    result["clusters"] = [[list(r) for r in c] for c in result["clusters"]]
    out.write_text(json.dumps(result))


# --- the benchmark -------------------------------------------------------------------------------------


def _score(folder: Path, result: dict[str, Any]) -> dict[str, Any]:
    from mdm.match.evaluate import evaluate, read_truth

    truth = read_truth(folder / "truth.json")
    clusters = [[tuple(r) for r in c] for c in result["clusters"]]
    return evaluate(clusters, truth).as_dict()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,20000,200000", help="records per side, comma-separated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--hard-cases", type=float, default=0.25, help="share of companies in look-alike groups"
    )
    parser.add_argument("--data", type=Path, help="a sandbox data folder with truth.json instead of the seed")
    parser.add_argument("--engines", default="synchub,splink", help="comma-separated: synchub, splink")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0

    sizes = [0] if args.data else [int(s) for s in args.sizes.split(",") if s]
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(unknown)}")
    rows = []
    for size in sizes:
        label = (
            f"{args.data}"
            if args.data
            else f"{size:,} per side (seed {args.seed}, hard cases {args.hard_cases})"
        )
        print(f"\n== {label}", flush=True)
        folder = prepare(size, args.seed, args.hard_cases, args.data)
        for engine in engines:
            out = folder / f"result-{engine}.json"
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "bench.match_quality", "--child", engine, str(folder), str(out)],
                cwd=ROOT,
            )
            if done.returncode != 0:
                print(f"  {engine}: failed (exit {done.returncode})", flush=True)
                rows.append((label, engine, None, None))
                continue
            result = json.loads(out.read_text())
            quality = _score(folder, result)
            rows.append((label, engine, quality, result))
            print(
                f"  {engine:8} P {quality['precision']:.4f}  R {quality['recall']:.4f}  "
                f"F1 {quality['f1']:.4f}  "
                f"time {result['seconds']:7.1f} s (setup {result.get('setup_seconds', 0):.1f}, train "
                f"{result['train_seconds']:.1f}, predict {result['predict_seconds']:.1f}, cluster "
                f"{result['cluster_seconds']:.1f})  "
                f"peak {result['max_rss_mb']:6.0f} MB  [{quality['true_pairs']} true pairs; "
                f"process {time.perf_counter() - started:.0f} s]",
                flush=True,
            )
    print("\nsize | engine | precision | recall | F1 | match seconds | peak MB")
    for label, engine, quality, result in rows:
        if quality is None:
            print(f"{label} | {engine} | failed")
            continue
        print(
            f"{label} | {engine} | {quality['precision']:.4f} | {quality['recall']:.4f} | "
            f"{quality['f1']:.4f} | "
            f"{result['seconds']:.1f} | {result['max_rss_mb']:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
