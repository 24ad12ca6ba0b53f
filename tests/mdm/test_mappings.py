"""Mapping files: every shipped file loads, and a broken one fails naming its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm.mappings import DEFAULT_DIR, ENTITIES, MappingError, entity_source, load_mapping, load_mappings


@pytest.mark.parametrize("path", sorted(DEFAULT_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_mapping_loads(path: Path) -> None:
    mapping = load_mapping(path)
    assert mapping.entity == path.stem


def test_there_is_a_mapping_per_entity() -> None:
    assert set(load_mappings()) == set(ENTITIES)


def test_sources_carry_the_stamps_each_system_really_has() -> None:
    assert entity_source("customer").sap.stamp_fields == ("LastChangeDate", "LastChangeTime")
    assert entity_source("product").sap.stamp_fields == ("LastChangeDateTime",)
    assert entity_source("order").sap.stamp_fields == ("LastChangeDateTime",)
    assert entity_source("price").sap.stamp_fields == ()
    order = entity_source("order").salesforce
    assert [c.object for c in order.children] == ["OrderItem"]


def _write(tmp_path: Path, text: str, name: str = "customer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


VALID = (DEFAULT_DIR / "customer.yaml").read_text()


def test_a_bad_enum_value_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("stamp: date+time", "stamp: daily"))
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "stamp: daily" in text)
    assert error.value.line == line
    assert error.value.field == "systems.sap.stamp"
    assert str(error.value).startswith(f"{path}:{line}: systems.sap.stamp: 'daily' is not one of")


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("    key: Id\n", "    key: Id\n    kye: Name\n"))
    with pytest.raises(MappingError, match=r"systems\.salesforce: Additional properties are not allowed \('kye'"):
        load_mapping(path)


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("    entity_set: A_BusinessPartner\n", ""))
    with pytest.raises(MappingError, match="'entity_set' is a required property"):
        load_mapping(path)


def test_a_bad_item_in_a_list_names_its_index(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("read: [Name,", "read: [Na me,"))
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    assert error.value.field == "systems.salesforce.read[0]"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "entity: customer\nsystems: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML") as error:
        load_mapping(path)
    assert error.value.line is not None


def test_the_file_name_must_match_the_entity(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID, name="product.yaml")
    with pytest.raises(MappingError, match="declares entity 'customer'; name it customer.yaml"):
        load_mapping(path)
