"""The SAP sandbox's record vocabulary: keys, records, number ranges, read-only and numbered properties,
and the OData errors S/4 answers with."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.sap.model import EntitySet
from sandbox.sap.odata import (
    ODataError,
)

Key = tuple[Any, ...]
Record = dict[str, Any]

# First number of the customers' own range: eight digits, so a customer number is never also a
# partner number of the seven-digit BP range (the seed numbers its customers from here too).
CUSTOMER_NUMBER_START = 17100001

# child set -> (parent set, {child property: parent property}). Navigations between a parent and a
# child join on these; a child can only be created under an existing parent.
PARENTS: dict[str, tuple[str, dict[str, str]]] = {
    "A_BusinessPartnerAddress": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    "A_BusinessPartnerRole": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    "A_BusinessPartnerTaxNumber": ("A_BusinessPartner", {"BusinessPartner": "BusinessPartner"}),
    # A_BusinessPartner.Customer names the partner's customer: its own number unless the CVI assigns
    # customers the partner's number ("same numbers", see SapSystem's same_customer_numbers).
    "A_Customer": ("A_BusinessPartner", {"Customer": "Customer"}),
    "A_CustomerSalesArea": ("A_Customer", {"Customer": "Customer"}),
    "A_AddressEmailAddress": ("A_BusinessPartnerAddress", {"AddressID": "AddressID"}),
    "A_AddressPhoneNumber": ("A_BusinessPartnerAddress", {"AddressID": "AddressID"}),
    "A_ProductDescription": ("A_Product", {"Product": "Product"}),
    "A_ProductSales": ("A_Product", {"Product": "Product"}),
    "A_ProductSalesDelivery": ("A_Product", {"Product": "Product"}),
    "A_SalesOrderItem": ("A_SalesOrder", {"SalesOrder": "SalesOrder"}),
    "A_SalesOrderHeaderPartner": ("A_SalesOrder", {"SalesOrder": "SalesOrder"}),
    "A_SlsPrcgCndnRecdValidity": ("A_SlsPrcgConditionRecord", {"ConditionRecord": "ConditionRecord"}),
}

# to_PhoneNumber and to_MobilePhoneNumber share A_AddressPhoneNumber; S/4 tells them apart by type.
PHONE_TYPE = {"to_PhoneNumber": "1", "to_MobilePhoneNumber": "3"}

# Server-assigned keys: set -> (key property, first number, digits). Condition record numbers keep
# their leading zeros on the wire; the others come without them.
NUMBERED = {
    "A_BusinessPartner": ("BusinessPartner", 1000000, 0),
    "A_BusinessPartnerAddress": ("AddressID", 22000, 0),
    # The customer account group's internal number range (used unless customers take the BP's number).
    "A_Customer": ("Customer", CUSTOMER_NUMBER_START, 0),
    "A_SalesOrder": ("SalesOrder", 1, 0),
    "A_SlsPrcgConditionRecord": ("ConditionRecord", 1, 10),
}

# Properties S/4 maintains itself; a client's values for them are ignored.
READ_ONLY = {
    "CreationDate",
    "CreationTime",
    "CreatedByUser",
    "LastChangeDate",
    "LastChangeTime",
    "LastChangeDateTime",
    "LastChangedByUser",
    "BusinessPartnerUUID",
    "AddressUUID",
}

PARTNER_CATEGORIES = ("1", "2", "3")  # person, organisation, group
ORDER_REQUIRED = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
)

FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
DIGITS = re.compile(r"^\d+$")


@dataclass
class Created:
    """A created entity and the children deep-inserted with it, by navigation property."""

    entity_set: EntitySet
    record: Record
    children: dict[str, list[Created]] = field(default_factory=dict)


def key_order(key: Key) -> tuple[tuple[int, Any], ...]:
    """Order keys as S/4 does: numeric strings by number (they are zero-padded inside)."""
    parts: list[tuple[int, Any]] = []
    for value in key:
        if isinstance(value, str) and DIGITS.match(value):
            parts.append((0, int(value)))
        elif value is None:
            parts.append((1, ""))
        else:
            parts.append((2, str(value)))
    return tuple(parts)


def not_found(entity_set: EntitySet) -> ODataError:
    return ODataError(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{entity_set.type_name}'")


def bad_request(code: str, message: str, target: str = "") -> ODataError:
    details = [
        {"code": code, "message": message, "propertyref": target, "severity": "error", "target": target}
    ]
    return ODataError(400, code, message, details)
