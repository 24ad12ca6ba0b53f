"""Match settings: validated by mappings/match.schema.json, serialisable, errors naming the setting."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mdm.match import MatchConfig, MatchConfigError, entity_match_config, load_match_config

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
CUSTOMER_MAPPING = MAPPINGS / "customer.yaml"


@pytest.fixture(scope="module")
def section() -> dict:
    return YAML(typ="safe").load(CUSTOMER_MAPPING.read_text())["match"]


def test_customer_match_settings_load(section: dict) -> None:
    config = MatchConfig.from_dict(section)
    assert [r.name for r in config.deterministic] == [
        "same_vat",
        "erp_number_in_crm",
        "erp_partner_in_crm",
        "same_duns",
    ]
    assert config.low < config.high


def test_settings_round_trip_through_plain_data(section: dict) -> None:
    config = MatchConfig.from_dict(section)
    assert MatchConfig.from_dict(config.to_dict()) == config


def test_the_customer_settings_learn_every_value_from_the_data(section: dict) -> None:
    config = MatchConfig.from_dict(section)
    assert config.prior is None and not config.fully_pinned
    assert all(level.m is None and level.u is None for c in config.comparisons for level in c.levels)


def test_a_pinned_level_weight_is_log2_of_m_over_u(section: dict) -> None:
    pinned = copy.deepcopy(section)
    pinned["comparisons"][0]["levels"][1] |= {"m": 0.9, "u": 0.001}
    exact = MatchConfig.from_dict(pinned).comparisons[0].levels[1]
    assert exact.kind == "exact" and exact.weight == pytest.approx(math.log2(0.9 / 0.001))
    assert MatchConfig.from_dict(pinned).comparisons[0].levels[0].weight == 0.0


def test_a_pinned_prior_gives_the_probability_of_a_weight(section: dict) -> None:
    config = MatchConfig.from_dict({**section, "prior": 0.01})
    assert config.probability(0.0) == pytest.approx(0.01)
    assert config.probability(-config.prior_weight) == pytest.approx(0.5)


def test_the_settings_digest_changes_with_a_comparison_but_not_with_thresholds(section: dict) -> None:
    config = MatchConfig.from_dict(section)
    other = copy.deepcopy(section)
    other["thresholds"]["high"] = 0.999
    assert MatchConfig.from_dict(other).digest() == config.digest()
    other["comparisons"][0]["levels"].insert(1, {"kind": "jaro", "threshold": 0.99})
    assert MatchConfig.from_dict(other).digest() != config.digest()


def test_a_constraint_of_kind_reference_needs_an_owner(section: dict) -> None:
    broken = copy.deepcopy(section)
    broken["cannot_link"][2].pop("owner")
    with pytest.raises(MatchConfigError, match="kind reference needs an owner"):
        MatchConfig.from_dict(broken)


def test_only_without_must_name_another_comparison(section: dict) -> None:
    broken = copy.deepcopy(section)
    city = next(c for c in broken["comparisons"] if c["name"] == "city")
    city["only_without"] = "zip"
    with pytest.raises(MatchConfigError, match=r"only_without: 'zip' is not another comparison"):
        MatchConfig.from_dict(broken)


def test_unknown_transform_is_refused_naming_the_setting(section: dict) -> None:
    broken = copy.deepcopy(section)
    broken["comparisons"][0]["transform"] = "soundex"
    with pytest.raises(MatchConfigError, match=r"match\.comparisons\[0\]\.transform"):
        MatchConfig.from_dict(broken)


def test_fuzzy_level_without_threshold_is_refused(section: dict) -> None:
    broken = copy.deepcopy(section)
    name = broken["comparisons"][0]["levels"]
    fuzzy = next(i for i, level in enumerate(name) if "threshold" in level)
    del name[fuzzy]["threshold"]
    with pytest.raises(MatchConfigError, match=rf"match\.comparisons\[0\]\.levels\[{fuzzy}\]"):
        MatchConfig.from_dict(broken)


def test_levels_must_end_with_else(section: dict) -> None:
    broken = copy.deepcopy(section)
    broken["comparisons"][0]["levels"].pop()
    with pytest.raises(MatchConfigError, match="last level must be 'else'"):
        MatchConfig.from_dict(broken)


def test_null_level_must_come_first(section: dict) -> None:
    broken = copy.deepcopy(section)
    levels = broken["comparisons"][0]["levels"]
    levels[0], levels[1] = levels[1], levels[0]
    with pytest.raises(MatchConfigError, match="null level must come first"):
        MatchConfig.from_dict(broken)


def test_low_threshold_above_high_is_refused(section: dict) -> None:
    broken = copy.deepcopy(section)
    broken["thresholds"] = {"high": 0.5, "low": 0.9}
    with pytest.raises(MatchConfigError, match="low must not be above high"):
        MatchConfig.from_dict(broken)


def test_file_errors_name_file_and_line(tmp_path: Path) -> None:
    text = CUSTOMER_MAPPING.read_text().replace("max_block_size: 40", "max_block_size: 1")
    path = tmp_path / "customer.yaml"
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "max_block_size" in row)
    with pytest.raises(MatchConfigError, match=rf"customer\.yaml:{line}: match\.max_block_size"):
        load_match_config(path)


def test_semantic_errors_name_file_and_line_too(tmp_path: Path) -> None:
    text = CUSTOMER_MAPPING.read_text()
    high = next(row for row in text.splitlines() if row.strip().startswith("high:"))
    path = tmp_path / "customer.yaml"
    path.write_text(text.replace(high, high.split(":")[0] + ": 0.1"))
    with pytest.raises(
        MatchConfigError, match=r"customer\.yaml:\d+: match\.thresholds: low must not be above high"
    ):
        load_match_config(path)


def test_entity_match_config_reads_the_section_in_the_mapping(tmp_path: Path) -> None:
    text = CUSTOMER_MAPPING.read_text()
    low = next(row for row in text.splitlines() if row.strip().startswith("low:"))
    (tmp_path / "customer.yaml").write_text(text.replace(low, low.split(":")[0] + ": 0.5"))
    assert entity_match_config("customer", tmp_path).low == 0.5
