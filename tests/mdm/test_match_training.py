"""Learning the match model from the data (mdm.match.training): u from random pairs, m by EM seeded by
the known matches, the prior estimated; the same data gives the same model, moved data another."""

from __future__ import annotations

import hashlib
import json
import random
from functools import cache

import pytest

from mdm.canonical import to_canonical
from mdm.config import DEFAULT_DIR, load_mapping
from mdm.match import MatchModel, MatchRecord
from mdm.match.engine import learn_model
from mdm.match.evaluate import pairs_of, read_truth
from sandbox.seed import BP_SERVICE, SeedOptions, expanded_partners, write_seed

MAPPING = load_mapping(DEFAULT_DIR / "customer.yaml")
CONFIG = MAPPING.match


def _record(system: str, key: str, values: dict) -> MatchRecord:
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()
    return MatchRecord(system, key, values, digest)


@cache
def seeded(seed: int = 31, customers: int = 800) -> tuple[tuple[MatchRecord, ...], int]:
    """The hard seed's canonical customer records, and its number of true pairs."""
    import tempfile
    from pathlib import Path

    from sandbox.seed import generate

    options = SeedOptions(seed=seed, customers=customers, products=0, orders=0, hard_cases=0.25)
    data, _ = generate(options)
    read = MAPPING.source.salesforce.fields
    records = [
        _record(
            "salesforce", a["Id"], to_canonical(MAPPING, "salesforce", {f: a.get(f) for f in read}).values
        )
        for a in data.salesforce["Account"]
    ]
    records += [
        _record("sap", p["BusinessPartner"], to_canonical(MAPPING, "sap", p).values)
        for p in expanded_partners(data.sap[BP_SERVICE])
    ]
    with tempfile.TemporaryDirectory() as tmp:
        truth = read_truth(write_seed(Path(tmp), options) / "truth.json")
    return tuple(records), sum(1 for _ in pairs_of(truth))


def weights(model: MatchModel, comparison: str) -> dict[str, float]:
    return {level.label: level.weight for level in model.levels[comparison] if level.m is not None}


def test_the_same_data_gives_the_same_model() -> None:
    records, _ = seeded()
    first, second = learn_model(list(records), CONFIG), learn_model(list(records), CONFIG)
    assert first.levels == second.levels and first.prior == second.prior


def test_the_prior_is_estimated_near_the_true_share_of_matching_pairs() -> None:
    records, true_pairs = seeded()
    model = learn_model(list(records), CONFIG)
    all_pairs = len(records) * (len(records) - 1) / 2
    assert 0.5 < model.prior / (true_pairs / all_pairs) < 2.0
    assert model.report["prior"]["blocking_recall_of_known_matches"] >= 0.99


def test_u_comes_from_random_pairs_and_m_from_known_matches_and_em() -> None:
    records, _ = seeded()
    model = learn_model(list(records), CONFIG)
    countries = [r.values.get("country") for r in records if r.values.get("country")]
    chance = sum((countries.count(c) / len(countries)) ** 2 for c in set(countries))
    country_exact = model.levels["country"][1]
    assert country_exact.u == pytest.approx(chance, rel=0.2)  # two random companies share a country
    assert model.levels["name"][1].m > 0.7  # most matches agree on the name
    sessions = [s["session"] for s in model.report["sessions"]]
    assert "known matches: same_vat" in sessions and "blocking rule postal_name" in sessions
    assert model.report["check"]["known_matches_scored_auto"] >= 0.98


def test_parameters_learnt_again_on_moved_data_change_the_weights() -> None:
    """A CRM that types postal codes carelessly: the postal code's exact level says less, its near level
    more, and the model learns it from the data without any setting changing."""
    records, _ = seeded()
    rng = random.Random(5)
    moved = []
    for record in records:
        values = dict(record.values)
        postal = values.get("postal_code")
        if record.system == "salesforce" and postal and len(postal) > 3 and rng.random() < 0.4:
            i = rng.randrange(len(postal))
            values["postal_code"] = postal[:i] + ("0" if postal[i] != "0" else "1") + postal[i + 1 :]
        moved.append(_record(record.system, record.source_key, values))
    before, after = learn_model(list(records), CONFIG), learn_model(moved, CONFIG)
    assert after.levels["postal_code"][1].m < before.levels["postal_code"][1].m - 0.1
    near = "levenshtein >= 0.8"
    assert weights(after, "postal_code")[near] > weights(before, "postal_code")[near] + 1.0


def test_records_synchub_wrote_itself_are_left_out_of_training() -> None:
    records, _ = seeded()
    copies = [r.ref for r in records[:50]]
    model = learn_model(list(records), CONFIG, exclude_from_training=copies)
    assert model.records == len(records) - 50


def test_settings_that_pin_every_value_give_their_model_without_learning() -> None:
    from tests.mdm.test_match_engine import CONFIG as PINNED

    records, _ = seeded()
    model = learn_model(list(records), PINNED)
    assert model.report == {"pinned": True} and model.prior == PINNED.prior
    assert model.levels["name"][1].m == 0.9 and model.fits(PINNED) and not model.fits(CONFIG)
