"""The SAP sandbox's entity model, read from the published API's property lists (``entities.json``).

``entities.json`` lists, per OData service, each entity set with its keys, its properties as
EDM types (``Edm.String(10)``, ``Edm.Decimal(15,3)``, ``Edm.DateTime (date)``) and its
navigation properties. Entity type names follow SAP's convention: set ``A_Product`` has type
``A_ProductType``. Navigation properties whose target is not modelled here are left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

SERVICES = (
    "API_BUSINESS_PARTNER",
    "API_PRODUCT_SRV",
    "API_SALES_ORDER_SRV",
    "API_SLSPRICINGCONDITIONRECORD_SRV",
)
SERVICE_ROOT = "/sap/opu/odata/sap/"

# Change stamps, maintained by the server on exactly the entity sets whose type has them.
STAMP_FIELDS = ("LastChangeDate", "LastChangeTime", "LastChangeDateTime")

_TYPE = re.compile(r"^(Edm\.\w+)(?:\((\d+)(?:,(\d+))?\))?(?:\s+\((\w+)\))?$")


@dataclass(frozen=True)
class Property:
    name: str
    edm_type: str  # Edm.String, Edm.Decimal, Edm.DateTime, Edm.DateTimeOffset, Edm.Time, ...
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    display_format: str | None = None  # "date" for Edm.DateTime properties that hold a date
    is_key: bool = False

    @property
    def nullable(self) -> bool:
        return not self.is_key


@dataclass(frozen=True)
class Navigation:
    name: str
    target_set: str
    many: bool


@dataclass
class EntitySet:
    service: str
    name: str  # entity set name, e.g. A_BusinessPartner
    keys: tuple[str, ...]
    properties: dict[str, Property]
    navigations: dict[str, Navigation] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return f"{self.name}Type"

    @property
    def stamps(self) -> tuple[str, ...]:
        return tuple(s for s in STAMP_FIELDS if s in self.properties)

    @property
    def has_etag(self) -> bool:
        """Entities SAP guards with an ETag (If-Match; 412 on a mismatch)."""
        return self.name in ETAG_SETS


# The sandbox versions these with an ETag, derived from LastChangeDateTime, as S/4 does.
ETAG_SETS = {"A_SalesOrder"}


def parse_type(name: str, spec: str, is_key: bool) -> Property:
    m = _TYPE.match(spec)
    if not m:
        raise ValueError(f"entities.json: cannot read the type {spec!r} of {name}")
    edm, first, second, fmt = m.groups()
    max_length = precision = scale = None
    if edm == "Edm.String" and first:
        max_length = int(first)
    elif edm == "Edm.Decimal" and first:
        precision, scale = int(first), int(second or 0)
    return Property(name, edm, max_length, precision, scale, fmt, is_key)


@cache
def load_model() -> dict[str, dict[str, EntitySet]]:
    """service -> entity set name -> EntitySet."""
    raw = json.loads(resources.files("sandbox.sap").joinpath("entities.json").read_text())
    model: dict[str, dict[str, EntitySet]] = {}
    for service in SERVICES:
        sets: dict[str, EntitySet] = {}
        for set_name, spec in raw[service].items():
            keys = tuple(spec["keys"])
            props = {n: parse_type(n, t, n in keys) for n, t in spec["properties"].items()}
            sets[set_name] = EntitySet(service, set_name, keys, props)
        for set_name, spec in raw[service].items():
            for nav, target in spec.get("navigation", {}).items():
                many = target.endswith("[*]")
                target_set = target.removesuffix("[*]")
                if target_set in sets:
                    sets[set_name].navigations[nav] = Navigation(nav, target_set, many)
        model[service] = sets
    return model


def find_set(name: str) -> EntitySet:
    """An entity set by name, across services."""
    for sets in load_model().values():
        if name in sets:
            return sets[name]
    raise KeyError(name)
