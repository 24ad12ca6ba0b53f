"""The sandbox org's schema: standard fields from the reference describe, plus SyncHub's custom fields.

``standard_objects.json`` is a trimmed describe of a real org (name -> type). This module adds
what a real describe also reports (length, nillable, createable, updateable, externalId,
picklists, relationships) and the custom fields SyncHub defines, so the sandbox can validate
writes and answer ``sobjects/X/describe`` the way an org does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

API_VERSION = "62.0"

# Key prefixes of the real objects (the first three characters of every Id).
KEY_PREFIX: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "Order": "801",
    "OrderItem": "802",
    "User": "005",
    "Group": "00G",
    "Contract": "800",
}

# Fields the platform maintains: never createable or updateable through the API.
SYSTEM_FIELDS = {
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "LastActivityDate",
    "LastViewedDate",
    "LastReferencedDate",
    "MasterRecordId",
    "PhotoUrl",
    "LastCURequestDate",
    "LastCUUpdateDate",
    "EmailBouncedReason",
    "EmailBouncedDate",
    "IsEmailBounced",
    "IsArchived",
}
# Fields the platform computes per object.
CALCULATED_FIELDS: dict[str, set[str]] = {
    "Contact": {"Name"},
    "PricebookEntry": {"Name", "ProductCode"},
    "Pricebook2": {"IsStandard"},
    "Order": {"OrderNumber", "TotalAmount", "StatusCode", "ActivatedDate", "ActivatedById"},
    "OrderItem": {"OrderItemNumber", "TotalPrice", "ListPrice", "AvailableQuantity"},
}
# Master-detail and similar references: set on create, fixed afterwards.
CREATE_ONLY_FIELDS: dict[str, set[str]] = {
    "PricebookEntry": {"Pricebook2Id", "Product2Id"},
    "OrderItem": {"OrderId", "PricebookEntryId", "Product2Id"},
}
# Not nillable in describe, but the platform fills them in on create.
DEFAULTED_ON_CREATE = {"OwnerId", "IsActive", "UseStandardPrice", "IsReductionOrder", "IsSerialized"}

STRING_LENGTHS: dict[str, int] = {
    "BillingCity": 40,
    "ShippingCity": 40,
    "BillingState": 80,
    "ShippingState": 80,
    "BillingPostalCode": 20,
    "ShippingPostalCode": 20,
    "BillingCountry": 80,
    "ShippingCountry": 80,
    "MailingCity": 40,
    "OtherCity": 40,
    "MailingState": 80,
    "OtherState": 80,
    "MailingPostalCode": 20,
    "OtherPostalCode": 20,
    "MailingCountry": 80,
    "OtherCountry": 80,
    "AccountNumber": 40,
    "Sic": 20,
    "Site": 80,
    "TickerSymbol": 20,
    "DunsNumber": 9,
    "NaicsCode": 8,
    "NaicsDesc": 120,
    "YearStarted": 4,
    "SicDesc": 80,
    "Jigsaw": 20,
    "JigsawCompanyId": 20,
    "JigsawContactId": 20,
    "FirstName": 40,
    "LastName": 80,
    "Title": 128,
    "Department": 80,
    "AssistantName": 40,
    "PoNumber": 80,
    "OrderReferenceNumber": 80,
    "OrderNumber": 30,
    "OrderItemNumber": 30,
    "StockKeepingUnit": 180,
    "ExternalId": 255,
}
TYPE_LENGTHS = {"phone": 40, "email": 80, "url": 255, "picklist": 255, "string": 255, "textarea": 255}
LONG_TEXT = {"Description": 32000}
NAME_LENGTHS = {
    "Order": 80,
    "Account": 255,
    "Product2": 255,
    "Pricebook2": 255,
    "Contact": 121,
    "PricebookEntry": 255,
}

# Order status labels are each org's own; every label belongs to a status category, which the read-only
# StatusCode holds ("StatusCode: The status category for the order", Object Reference, Order; the
# categories are Draft and Activated, and each Status picklist value is assigned to one of them in
# Setup). This org has labels unlike their category, as real orgs do.
ORDER_STATUS_CATEGORY: dict[str, str] = {
    "Draft": "Draft",
    "In Approval": "Draft",
    "Activated": "Activated",
    "Booked": "Activated",
}

PICKLISTS: dict[tuple[str, str], tuple[list[str], bool]] = {
    # (object, field): (values, restricted)
    ("Account", "Type"): (
        [
            "Prospect",
            "Customer - Direct",
            "Customer - Channel",
            "Channel Partner / Reseller",
            "Installation Partner",
            "Technology Partner",
            "Other",
        ],
        False,
    ),
    ("Account", "Industry"): (
        [
            "Agriculture",
            "Apparel",
            "Banking",
            "Biotechnology",
            "Chemicals",
            "Communications",
            "Construction",
            "Consulting",
            "Education",
            "Electronics",
            "Energy",
            "Engineering",
            "Entertainment",
            "Environmental",
            "Finance",
            "Food & Beverage",
            "Government",
            "Healthcare",
            "Hospitality",
            "Insurance",
            "Machinery",
            "Manufacturing",
            "Media",
            "Not For Profit",
            "Recreation",
            "Retail",
            "Shipping",
            "Technology",
            "Telecommunications",
            "Transportation",
            "Utilities",
            "Other",
        ],
        False,
    ),
    ("Account", "Rating"): (["Hot", "Warm", "Cold"], False),
    ("Account", "Ownership"): (["Public", "Private", "Subsidiary", "Other"], False),
    ("Account", "AccountSource"): (
        ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
        False,
    ),
    ("Product2", "Family"): (
        ["Hardware", "Software", "Services", "Spare Parts", "Consumables", "None"],
        False,
    ),
    ("Product2", "QuantityUnitOfMeasure"): (
        ["Each", "Piece", "Kilogram", "Gram", "Liter", "Meter", "Hour", "Box", "Pallet", "Set"],
        False,
    ),
    ("Order", "Status"): (list(ORDER_STATUS_CATEGORY), True),
    ("Order", "StatusCode"): (["Draft", "Activated", "Cancelled", "Expired"], True),
    ("Order", "Type"): (["Standard", "Return", "Rush"], False),
    ("Contact", "Salutation"): (["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], False),
}

# SyncHub's custom fields: name -> (type, length, externalId, unique).
CUSTOM_FIELDS: dict[str, dict[str, tuple[str, int, bool, bool]]] = {
    "Account": {
        "VAT_Number__c": ("string", 32, False, False),
        "SAP_Customer_Number__c": ("string", 10, True, False),
        "SAP_Business_Partner__c": ("string", 10, False, False),
    },
    "Product2": {"SAP_Product__c": ("string", 40, True, False)},
    "PricebookEntry": {"SAP_Condition_Record__c": ("string", 10, False, False)},
    "Order": {
        "SAP_Order_Number__c": ("string", 10, True, False),
        "SAP_Order_Status__c": ("string", 40, False, False),
        "SAP_Delivery_Status__c": ("string", 40, False, False),
        "SAP_Billing_Status__c": ("string", 40, False, False),
    },
}
SYNCHUB_ID = "SyncHub_Id__c"

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str  # Salesforce field type: id, string, textarea, picklist, reference, boolean, ...
    nillable: bool
    createable: bool
    updateable: bool
    length: int = 0
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    defaulted_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    custom: bool = False

    @property
    def _long_or_compound(self) -> bool:
        return self.type == "address" or (self.type == "textarea" and self.length > 255)

    @property
    def required_on_create(self) -> bool:
        """A value must be given on insert (what triggers REQUIRED_FIELD_MISSING)."""
        return (
            self.createable and not self.nillable and not self.defaulted_on_create and self.type != "boolean"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": 18 if self.type in ("double", "currency", "percent") else 0,
            "scale": 2 if self.type in ("currency", "percent") else 0,
            "digits": 9 if self.type == "int" else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.name == "Id" or self.external_id or self.name == "Name",
            "calculated": self.calculated,
            "defaultedOnCreate": self.defaulted_on_create or self.name in SYSTEM_FIELDS,
            "custom": self.custom,
            # Long text areas (and compound fields) cannot be filtered or sorted; short ones can.
            "filterable": not self._long_or_compound,
            "sortable": not self._long_or_compound,
            "groupable": self.type not in ("address", "textarea", "double", "currency"),
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v, "validFor": None}
                for v in self.picklist_values
            ],
            "restrictedPicklist": self.restricted_picklist,
            "compoundFieldName": None,
            "defaultValue": None,
            "inlineHelpText": None,
        }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower = {n.lower(): f for n, f in self.fields.items()}

    def field(self, name: str) -> FieldDef | None:
        """Look a field up case-insensitively, as SOQL and the REST API do."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind a parent relationship name (``Account`` -> ``AccountId``)."""
        lowered = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None

    @property
    def external_id_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.external_id]

    def describe(self, base_url: str = f"/services/data/v{API_VERSION}") -> dict[str, Any]:
        urls = {
            "sobject": f"{base_url}/sobjects/{self.name}",
            "describe": f"{base_url}/sobjects/{self.name}/describe",
            "rowTemplate": f"{base_url}/sobjects/{self.name}/{{ID}}",
        }
        return {
            "name": self.name,
            "label": self.name,
            "labelPlural": self.name + "s",
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "searchable": True,
            "retrieveable": True,
            "undeletable": True,
            "triggerable": True,
            "layoutable": True,
            "urls": urls,
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [],
            "recordTypeInfos": [],
        }

    def summary(self, base_url: str = f"/services/data/v{API_VERSION}") -> dict[str, Any]:
        full = self.describe(base_url)
        full.pop("fields")
        full.pop("childRelationships")
        full.pop("recordTypeInfos")
        return full


def _field_from_reference(obj: str, name: str, spec: str) -> FieldDef:
    not_null = spec.endswith(" NOT NULL")
    kind = spec.removesuffix(" NOT NULL")
    reference_to: tuple[str, ...] = ()
    if kind.startswith("reference->"):
        reference_to = tuple(kind.split("->", 1)[1].split(","))
        kind = "reference"
    system = name in SYSTEM_FIELDS or kind == "address" or kind == "id"
    calculated = name in CALCULATED_FIELDS.get(obj, set())
    create_only = name in CREATE_ONLY_FIELDS.get(obj, set())
    writable = not (system or calculated)
    if obj == "Order" and name == "Name" or (obj == "Pricebook2" and name == "Name"):
        length = NAME_LENGTHS[obj]
    elif name == "Name":
        length = NAME_LENGTHS.get(obj, 255)
    elif kind in ("string", "textarea", "phone", "email", "url", "picklist"):
        length = LONG_TEXT.get(name) or STRING_LENGTHS.get(name) or TYPE_LENGTHS[kind]
    elif kind in ("id", "reference"):
        length = 18
    else:
        length = 0
    values, restricted = PICKLISTS.get((obj, name), ((), False))
    relationship = None
    if kind == "reference" and name.endswith("Id"):
        relationship = name[:-2]
    return FieldDef(
        name=name,
        type=kind,
        # Booleans are never nillable in Salesforce; system stamps are filled by the platform.
        nillable=not not_null and kind != "boolean",
        createable=writable,
        updateable=writable and not create_only,
        length=length,
        calculated=calculated,
        defaulted_on_create=name in DEFAULTED_ON_CREATE or kind == "boolean",
        reference_to=reference_to,
        relationship_name=relationship,
        picklist_values=tuple(values),
        restricted_picklist=restricted,
    )


@cache
def load_schema(synchub_fields: bool = True) -> dict[str, ObjectDef]:
    """Every sandbox object, keyed by API name; ``synchub_fields=False``: as an org before SyncHub's
    metadata package (setup/salesforce) is deployed, without SyncHub's custom fields."""
    raw = json.loads(resources.files("sandbox.salesforce").joinpath("standard_objects.json").read_text())
    objects: dict[str, ObjectDef] = {}
    for obj, specs in raw["objects"].items():
        fields = {name: _field_from_reference(obj, name, spec) for name, spec in specs.items()}
        custom = {SYNCHUB_ID: ("string", 64, True, True), **CUSTOM_FIELDS.get(obj, {})}
        if not synchub_fields:
            custom = {}
        for name, (kind, length, external_id, unique) in custom.items():
            fields[name] = FieldDef(
                name=name,
                type=kind,
                nillable=True,
                createable=True,
                updateable=True,
                length=length,
                external_id=external_id,
                unique=unique,
                custom=True,
            )
        objects[obj] = ObjectDef(name=obj, key_prefix=KEY_PREFIX[obj], fields=fields)
    return objects


_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def to_18(id15: str) -> str:
    """Salesforce's case-safe 18-character Id: three checksum characters encode the upper-case map."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _ID_ALPHABET[bits]
    return id15 + suffix


def make_id(prefix: str, number: int, pod: str = "8d0") -> str:
    """A deterministic 18-character Id for the ``number``-th record with this key prefix."""
    body = ""
    n = number
    for _ in range(9):
        n, r = divmod(n, 62)
        body = _BASE62[r] + body
    return to_18(prefix + pod[:3] + body)[:18]
