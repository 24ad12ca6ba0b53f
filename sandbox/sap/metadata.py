"""The ``$metadata`` document (EDMX, OData V2) of each sandbox service, laid out as S/4HANA writes it.

One EntityType ``<Set>Type`` per entity set with its key, typed properties (MaxLength, Precision/Scale,
``sap:display-format="Date"`` for DATS fields, ``sap:label``), one Association per navigation
property (hash-named like S/4's generated ``assoc_...``), and an EntityContainer
``<service>_Entities`` with the entity sets, their ``sap:`` capabilities and the association sets.
pyodata parses it in its default (strict) mode.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from xml.sax.saxutils import quoteattr

from sandbox.sap.model import STAMP_FIELDS, EntitySet, Navigation, Property, load_model

NS_EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
NS_EDM = "http://schemas.microsoft.com/ado/2008/09/edm"
NS_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
NS_SAP = "http://www.sap.com/Protocols/SAPData"

# Entity sets whose operations differ from "creatable, updatable, deletable" in the released APIs
# (e.g. a business partner or product is archived, never deleted; a customer is created with its
# business partner). The server may read these to refuse the operation.
CAPABILITIES: dict[str, dict[str, bool]] = {
    "A_BusinessPartner": {"deletable": False},
    "A_Customer": {"creatable": False, "deletable": False},
    "A_CustomerSalesArea": {"deletable": False},
    "A_Product": {"deletable": False},
    "A_ProductSales": {"creatable": False, "deletable": False},
    "A_ProductSalesDelivery": {"deletable": False},
    "A_SlsPrcgConditionRecord": {"deletable": False},
}

_CREATION_FIELDS = ("CreationDate", "CreationTime", "CreatedByUser", "CreationDateTime")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def capabilities(entity_set: EntitySet) -> dict[str, bool]:
    """``{"creatable", "updatable", "deletable"}`` of an entity set, as its metadata declares them."""
    caps = {"creatable": True, "updatable": True, "deletable": True}
    caps.update(CAPABILITIES.get(entity_set.name, {}))
    return caps


def label_of(name: str) -> str:
    """A readable label from a technical name: ``BusinessPartnerFullName`` -> ``Business Partner Full
    Name`` (S/4 labels are the data elements' short texts; the sandbox derives them)."""
    words = _WORD.findall(name.removeprefix("A_").removeprefix("to_"))
    return (" ".join(words) or name)[:60]


def association_name(entity_set: EntitySet, nav: Navigation) -> str:
    """A stable ``assoc_<32 hex>`` name per (type, navigation), in the style of S/4's generated names."""
    digest = hashlib.md5(f"{entity_set.service}.{entity_set.type_name}/{nav.name}".encode()).hexdigest()
    return f"assoc_{digest.upper()}"


def _target_multiplicity(source: EntitySet, target: EntitySet, nav: Navigation) -> str:
    if nav.many:
        return "*"
    # A child pointing to its parent (the parent's key is a strict part of the child's): exactly one.
    if set(target.keys) < set(source.keys):
        return "1"
    return "0..1"


def _attrs(pairs: list[tuple[str, object]]) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None)


def _property_xml(entity_set: EntitySet, prop: Property) -> str:
    pairs: list[tuple[str, object]] = [("Name", prop.name), ("Type", prop.edm_type)]
    if prop.is_key:
        pairs.append(("Nullable", "false"))
    if prop.edm_type == "Edm.String" and prop.max_length is not None:
        pairs.append(("MaxLength", prop.max_length))
    if prop.edm_type == "Edm.Decimal" and prop.precision is not None:
        pairs += [("Precision", prop.precision), ("Scale", prop.scale or 0)]
    if prop.edm_type in ("Edm.DateTime", "Edm.Time"):
        pairs.append(("Precision", 0))
    if prop.edm_type == "Edm.DateTimeOffset":
        pairs.append(("Precision", 7))
    if prop.name == "LastChangeDateTime" and entity_set.has_etag:
        pairs.append(("ConcurrencyMode", "Fixed"))
    if prop.edm_type == "Edm.DateTime" and prop.display_format == "date":
        pairs.append(("sap:display-format", "Date"))
    pairs.append(("sap:label", label_of(prop.name)))
    if prop.name in STAMP_FIELDS or prop.name in _CREATION_FIELDS:
        pairs += [("sap:creatable", "false"), ("sap:updatable", "false")]
    elif prop.is_key:
        pairs.append(("sap:updatable", "false"))
    return f"        <Property{_attrs(pairs)}/>"


def _entity_type_xml(entity_set: EntitySet) -> list[str]:
    ns = entity_set.service
    type_attrs = _attrs(
        [("Name", entity_set.type_name), ("sap:label", label_of(entity_set.name)), ("sap:content-version", 1)]
    )
    lines = [f"      <EntityType{type_attrs}>"]
    lines.append("        <Key>")
    lines += [f"          <PropertyRef Name={quoteattr(k)}/>" for k in entity_set.keys]
    lines.append("        </Key>")
    lines += [_property_xml(entity_set, p) for p in entity_set.properties.values()]
    for nav in entity_set.navigations.values():
        assoc = association_name(entity_set, nav)
        pairs = [
            ("Name", nav.name),
            ("Relationship", f"{ns}.{assoc}"),
            ("FromRole", f"FromRole_{assoc}"),
            ("ToRole", f"ToRole_{assoc}"),
        ]
        lines.append(f"        <NavigationProperty{_attrs(pairs)}/>")
    lines.append("      </EntityType>")
    return lines


def _association_xml(sets: dict[str, EntitySet], entity_set: EntitySet, nav: Navigation) -> list[str]:
    ns = entity_set.service
    assoc = association_name(entity_set, nav)
    target = sets[nav.target_set]
    multiplicity = _target_multiplicity(entity_set, target, nav)
    source_end = _attrs(
        [("Type", f"{ns}.{entity_set.type_name}"), ("Multiplicity", "1"), ("Role", f"FromRole_{assoc}")]
    )
    target_end = _attrs(
        [("Type", f"{ns}.{target.type_name}"), ("Multiplicity", multiplicity), ("Role", f"ToRole_{assoc}")]
    )
    return [
        f'      <Association Name={quoteattr(assoc)} sap:content-version="1">',
        f"        <End{source_end}/>",
        f"        <End{target_end}/>",
        "      </Association>",
    ]


def _container_xml(service: str, sets: dict[str, EntitySet]) -> list[str]:
    lines = [
        f'      <EntityContainer Name={quoteattr(service + "_Entities")} m:IsDefaultEntityContainer="true"'
        ' sap:message-scope-supported="true" sap:supported-formats="atom json xlsx">'
    ]
    for entity_set in sets.values():
        caps = capabilities(entity_set)
        pairs: list[tuple[str, object]] = [
            ("Name", entity_set.name),
            ("EntityType", f"{service}.{entity_set.type_name}"),
            ("sap:creatable", str(caps["creatable"]).lower()),
            ("sap:updatable", str(caps["updatable"]).lower()),
            ("sap:deletable", str(caps["deletable"]).lower()),
            ("sap:pageable", "true"),
            ("sap:content-version", "1"),
        ]
        lines.append(f"        <EntitySet{_attrs(pairs)}/>")
    for entity_set in sets.values():
        for nav in entity_set.navigations.values():
            assoc = association_name(entity_set, nav)
            pairs = [
                ("Name", assoc),
                ("Association", f"{service}.{assoc}"),
                ("sap:creatable", "false"),
                ("sap:updatable", "false"),
                ("sap:deletable", "false"),
                ("sap:content-version", "1"),
            ]
            lines.append(f"        <AssociationSet{_attrs(pairs)}>")
            from_end = _attrs([("EntitySet", entity_set.name), ("Role", f"FromRole_{assoc}")])
            to_end = _attrs([("EntitySet", nav.target_set), ("Role", f"ToRole_{assoc}")])
            lines += [f"          <End{from_end}/>", f"          <End{to_end}/>"]
            lines.append("        </AssociationSet>")
    lines.append("      </EntityContainer>")
    return lines


@cache
def metadata_xml(service: str) -> bytes:
    """The ``$metadata`` EDMX of one service (``API_BUSINESS_PARTNER``, ...); KeyError if unknown."""
    sets = load_model()[service]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="1.0" xmlns:edmx="{NS_EDMX}" xmlns:m="{NS_M}" xmlns:sap="{NS_SAP}">',
        '  <edmx:DataServices m:DataServiceVersion="2.0">',
        f'    <Schema Namespace={quoteattr(service)} xml:lang="en" sap:schema-version="1" xmlns="{NS_EDM}">',
    ]
    for entity_set in sets.values():
        lines += _entity_type_xml(entity_set)
    for entity_set in sets.values():
        for nav in entity_set.navigations.values():
            lines += _association_xml(sets, entity_set, nav)
    lines += _container_xml(service, sets)
    lines += ["    </Schema>", "  </edmx:DataServices>", "</edmx:Edmx>", ""]
    return "\n".join(lines).encode("utf-8")
