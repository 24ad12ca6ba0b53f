"""Survivorship: ordered rules per field or group decide each golden value and say why."""

from __future__ import annotations

import datetime as dt

import pytest

from mdm.merge import Candidate, SurvivorshipConfig, SurvivorshipError, merge

EARLY = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
FIELDS = ["name", "vat_number", "phone", "street", "city", "country"]

CONFIG = SurvivorshipConfig.from_dict(
    {
        "default": ["not_null", "most_recent"],
        "rules": [
            {"fields": ["name", "vat_number"], "rules": [{"source_priority": ["sap", "salesforce"]}]},
            {"fields": "phone", "rules": [{"valid": "e164"}, {"source_priority": ["salesforce", "sap"]}]},
            {"fields": ["street", "city", "country"], "rules": ["most_complete", "most_recent"]},
        ],
    },
    FIELDS,
)


def crm(**values) -> Candidate:
    return Candidate("salesforce", "001A", values, LATE)


def erp(**values) -> Candidate:
    return Candidate("sap", "1000001", values, EARLY)


def test_source_priority_lets_the_owner_win_and_records_why() -> None:
    result = merge([crm(name="Acme Inc"), erp(name="ACME Incorporated")], CONFIG)
    assert result.values["name"] == "ACME Incorporated"
    why = result.provenance["name"]
    assert (why.system, why.source_key, why.rule, why.value) == (
        "sap",
        "1000001",
        "source_priority[sap]",
        "ACME Incorporated",
    )


def test_source_priority_falls_through_to_the_next_system_when_the_owner_has_no_value() -> None:
    result = merge([crm(vat_number="DE123456789"), erp(vat_number=None)], CONFIG)
    assert result.values["vat_number"] == "DE123456789"
    assert result.provenance["vat_number"].rule == "source_priority[salesforce]"


def test_a_validator_drops_invalid_values_before_priority() -> None:
    result = merge([crm(phone="030/1234567"), erp(phone="+49301234567")], CONFIG)
    assert result.values["phone"] == "+49301234567"
    assert result.provenance["phone"].rule == "valid[e164]"


def test_a_group_wins_as_a_whole_from_the_most_complete_record() -> None:
    result = merge(
        [
            crm(street="Main Street", city="Boston", country=None),
            erp(street="Main St", city="Boston", country="US"),
        ],
        CONFIG,
    )
    assert (result.values["street"], result.values["country"]) == ("Main St", "US")
    assert {result.provenance[f].system for f in ("street", "city", "country")} == {"sap"}
    assert result.provenance["street"].rule == "most_complete"


def test_most_recent_decides_between_equally_complete_records() -> None:
    result = merge(
        [
            crm(street="New Road", city="Leeds", country="GB"),
            erp(street="Old Road", city="Leeds", country="GB"),
        ],
        CONFIG,
    )
    assert result.values["street"] == "New Road"
    assert result.provenance["street"].rule == "most_recent"


def test_fields_without_rules_use_the_default() -> None:
    config = SurvivorshipConfig.from_dict({"default": ["not_null", "most_recent"]}, ["website"])
    result = merge([crm(website=None), erp(website="acme.com")], config)
    assert result.values["website"] == "acme.com"
    assert result.provenance["website"].rule == "not_null"


def test_a_single_candidate_wins_every_field() -> None:
    result = merge([crm(name="Solo GmbH")], CONFIG)
    assert result.values["name"] == "Solo GmbH"
    assert result.provenance["name"].rule == "only candidate"


def test_the_result_does_not_depend_on_candidate_order() -> None:
    a, b = crm(name="A", city="X", phone="+15555550100"), erp(name="B", city="Y", phone="+15555550199")
    assert merge([a, b], CONFIG).values == merge([b, a], CONFIG).values


def test_empty_strings_count_as_missing() -> None:
    result = merge([crm(vat_number="DE999999999"), erp(vat_number="  ")], CONFIG)
    assert result.values["vat_number"] == "DE999999999"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": [{"fields": "name", "rules": ["freshest"]}]}, "unknown rule 'freshest'"),
        ({"rules": [{"fields": "name", "rules": [{"valid": "iban"}]}]}, "unknown validator 'iban'"),
        ({"rules": [{"fields": "nmae", "rules": ["not_null"]}]}, "'nmae' is not a canonical field"),
        ({"rules": [{"fields": "name", "rules": [{"source_priority": []}]}]}, "needs a list of systems"),
        (
            {
                "rules": [
                    {"fields": "name", "rules": ["not_null"]},
                    {"fields": ["name"], "rules": ["most_recent"]},
                ]
            },
            "'name' has rules twice",
        ),
    ],
)
def test_bad_configuration_fails_naming_the_rule(section, message: str) -> None:
    with pytest.raises(SurvivorshipError, match=message):
        SurvivorshipConfig.from_dict(section, FIELDS)
