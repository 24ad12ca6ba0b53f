"""Entity mappings: ``mappings/<entity>.yaml``, validated against ``mappings/schema.json``.

Errors name the file, the line and the field (``mappings/customer.yaml:14: systems.sap.stamp:
'daily' is not one of ...``), so a broken mapping fails fast under its own name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from connectors.base import EntitySource, SalesforceChild, SalesforceSource, SapSource
from mdm.canonical import EntityModel, compile_model
from mdm.config.errors import MappingError, dotted_path, line_of
from mdm.config.match import MatchConfig, MatchConfigError
from mdm.config.pricing import PricingConfig
from mdm.config.sections import OrderSettings, PublishOptions, QualitySettings, WriteSettings
from mdm.config.survivorship import SurvivorshipConfig

MAPPINGS_ENV = "SYNCHUB_MAPPINGS_DIR"
# The shipped mappings and their schemas: package data of mdm (the repository's mappings/ links here).
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "mappings"
# Sections other modules define, each checked by its own schema file next to schema.json.
SECTION_SCHEMAS = ("match.schema.json", "survivorship.schema.json")


@dataclass(frozen=True)
class Mapping:
    entity: str
    path: Path
    source: EntitySource
    raw: dict[str, Any]
    model: EntityModel | None = None  # the compiled canonical section (fields, transforms, publish)
    match: MatchConfig | None = None  # the match: section
    survivorship: SurvivorshipConfig | None = None  # the survivorship: section
    pricing: PricingConfig | None = None  # the pricing: section (price entity)
    orders: OrderSettings | None = None  # the orders: section (order entity)
    quality: QualitySettings = field(default_factory=QualitySettings)  # the quality: section
    writes: WriteSettings = field(default_factory=WriteSettings)  # the writes: section
    publish: dict[str, PublishOptions] = field(default_factory=dict)  # system -> how SyncHub writes to it
    value_maps: dict[str, Any] = field(default_factory=dict)  # the value_maps: section as written

    def section(self, name: str) -> Any:
        """A section as written in the file (None when absent), for what keeps a digest of it."""
        return self.raw.get(name)


def mappings_dir() -> Path:
    return Path(os.environ.get(MAPPINGS_ENV) or DEFAULT_DIR)


def _schema() -> dict[str, Any]:
    return json.loads((DEFAULT_DIR / "schema.json").read_text())


@cache
def _validator() -> jsonschema.Draft202012Validator:
    """The main schema, with the section schemas it ``$ref``s (match, survivorship) in its registry."""
    main = _schema()
    registry: Registry = Registry()
    for name in SECTION_SCHEMAS:
        contents = json.loads((DEFAULT_DIR / name).read_text())
        resource = Resource.from_contents(contents, DRAFT202012)
        uri = main["$id"].rsplit("/", 1)[0] + "/" + name
        # Registered under the name the main schema refers to, and under its own $id for its inner $refs.
        registry = registry.with_resources(
            [(uri, resource), *([(resource.id(), resource)] if resource.id() else [])]
        )
    return jsonschema.Draft202012Validator(main, registry=registry)


def _plain(node: Any) -> Any:
    if isinstance(node, dt.date):
        return node.isoformat()  # an unquoted YAML date (valid_on: 2026-12-01), as JSON Schema sees it
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_mapping(path: Path) -> Mapping:
    """Read, validate and interpret one mapping file.

    Compiled mappings are cached per file content: every pipeline step loads its mapping, and an
    edited file is read again.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise MappingError(path, None, None, f"cannot read the file: {exc.strerror}") from exc
    return _compiled(path, text, DEFAULT_DIR)


@cache
def _compiled(path: Path, text: str, schemas: Path) -> Mapping:
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MappingError(path, mark.line + 1 if mark else None, None, f"not valid YAML: {exc}") from exc
    if not isinstance(document, CommentedMap):
        raise MappingError(path, 1, None, "expected a mapping (key: value) at the top level")
    data = _plain(document)
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path)))
    )
    if errors:
        error = errors[0]
        location = list(error.absolute_path)
        raise MappingError(path, line_of(document, location), dotted_path(location), error.message)
    if path.stem != data["entity"]:
        raise MappingError(
            path,
            line_of(document, ["entity"]),
            "entity",
            f"file {path.name} declares entity {data['entity']!r}; name it {data['entity']}.yaml",
        )

    def fail(location: list[str | int], reason: str) -> MappingError:
        return MappingError(path, line_of(document, location), dotted_path(location), reason)

    model = compile_model(data, fail)
    pricing = _section(data, "pricing", fail, _pricing_config)
    source = _source(data)
    if pricing is not None:
        problem = pricing.mapping_problem(data)
        if problem is not None:
            raise fail(*problem)
        if not source.sap.filter:
            source = replace(source, sap=replace(source.sap, filter=pricing.sap_filter))
    return Mapping(
        entity=data["entity"],
        path=path,
        source=source,
        raw=data,
        model=model,
        match=_section(data, "match", fail, _match_config),
        survivorship=_section(
            data,
            "survivorship",
            fail,
            partial(_survivorship_config, canonical_fields=list(data.get("canonical", {}).get("fields", {}))),
        ),
        pricing=pricing,
        orders=_section(data, "orders", fail, OrderSettings.from_dict),
        quality=QualitySettings.from_dict(data.get("quality")),
        writes=WriteSettings.from_dict(data.get("writes")),
        publish={system: PublishOptions.from_dict(options) for system, options in data["systems"].items()},
        value_maps=dict(data.get("value_maps") or {}),
    )


def _match_config(section: dict[str, Any]) -> MatchConfig:
    return MatchConfig.from_dict(section)


def _survivorship_config(section: dict[str, Any], canonical_fields: list[str]) -> SurvivorshipConfig:
    return SurvivorshipConfig.from_dict(section, canonical_fields)


def _pricing_config(section: dict[str, Any]) -> PricingConfig:
    return PricingConfig.from_dict(section)


def _section(data: dict[str, Any], name: str, fail, build):  # noqa: ANN001, ANN202 - internal glue
    """Build a section's settings; their errors ("match.thresholds: ...") become MappingErrors with a line."""
    if name not in data:
        return None
    try:
        return build(data[name])
    except ValueError as exc:
        message = str(exc)
        head, _, reason = message.partition(": ")
        location: list[str | int] = []
        for part in head.replace("[", ".[").split("."):
            if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
                location.append(int(part[1:-1]))
            elif part:
                location.append(part)
        if not location or location[0] != name or not reason:
            location, reason = [name], message
        raise fail(location, reason) from exc


def _source(data: dict[str, Any]) -> EntitySource:
    sf, sap = data["systems"]["salesforce"], data["systems"]["sap"]
    children = tuple(
        SalesforceChild(
            object=c["object"],
            parent_field=c["parent_field"],
            relationship=c["relationship"],
            fields=tuple(c["read"]),
            external_id=c.get("external_id"),
        )
        for c in sf.get("children", [])
    )
    return EntitySource(
        entity=data["entity"],
        salesforce=SalesforceSource(
            object=sf["object"],
            fields=tuple(sf["read"]),
            key=sf.get("key", "Id"),
            stamp=sf.get("stamp", "SystemModstamp"),
            external_id=sf.get("external_id"),
            where=sf.get("where"),
            children=children,
            writable=tuple(sf.get("writable", ())),
        ),
        sap=SapSource(
            service=sap["service"],
            entity_set=sap["entity_set"],
            keys=tuple(sap["keys"]),
            stamp=sap["stamp"],
            expand=tuple(sap.get("expand", ())),
            filter=sap.get("filter"),
            writable=tuple(sap.get("writable", ())),
            external_id=sap.get("external_id"),
        ),
    )


def load_mappings(directory: Path | None = None) -> dict[str, Mapping]:
    """Every ``*.yaml`` mapping in the directory, keyed by entity."""
    directory = directory or mappings_dir()
    mappings: dict[str, Mapping] = {}
    for path in sorted(directory.glob("*.yaml")):
        mapping = load_mapping(path)
        mappings[mapping.entity] = mapping
    return mappings


def load_entity_mapping(entity: str) -> Mapping:
    """``mappings/<entity>.yaml`` (``SYNCHUB_MAPPINGS_DIR`` overrides the folder)."""
    return load_mapping(mappings_dir() / f"{entity}.yaml")


# A section's name in the file -> the Mapping attribute that holds it parsed.
_SECTION_ATTRIBUTES = {
    "canonical": "model",
    "match": "match",
    "survivorship": "survivorship",
    "pricing": "pricing",
    "orders": "orders",
}


def mapping_with(entity: str, mapping: Mapping | None, section: str) -> Mapping:
    """The caller's mapping, else ``mappings/<entity>.yaml``; ValueError naming the file when it has no
    ``section`` (``canonical``, ``match``, ``survivorship``, ``pricing``, ``orders``) a step needs."""
    mapping = mapping or load_entity_mapping(entity)
    if getattr(mapping, _SECTION_ATTRIBUTES[section]) is None:
        raise ValueError(f"mapping {mapping.path} has no {section} section")
    return mapping


def entity_source(entity: str, directory: Path | None = None) -> EntitySource:
    directory = directory or mappings_dir()
    path = directory / f"{entity}.yaml"
    if not path.exists():
        raise MappingError(path, None, None, f"no mapping for entity {entity!r}")
    return load_mapping(path).source


def load_match_config(path: Path) -> MatchConfig:
    """The ``match:`` section of a mapping file; errors name the file, the line and the setting."""
    try:
        mapping = load_mapping(Path(path))
    except MappingError as exc:
        raise MatchConfigError(str(exc)) from exc
    if mapping.match is None:
        raise MatchConfigError(f"{path}: no 'match:' section")
    return mapping.match


def entity_match_config(entity: str, directory: Path | None = None) -> MatchConfig:
    """The entity's match settings: the ``match:`` section of ``<entity>.yaml`` in the mappings folder."""
    return load_match_config(Path(directory or mappings_dir()) / f"{entity}.yaml")
