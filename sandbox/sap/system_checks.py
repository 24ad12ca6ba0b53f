"""What S/4 checks and computes on a write through the API: decoding, key assignment from number ranges,
parents, required values, references, and the values it derives itself (the E.164 phone number)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

from sandbox.sap.model import EntitySet
from sandbox.sap.odata import (
    CODE_BUSINESS,
    CODE_MALFORMED,
    ODataError,
    decode_value,
)
from sandbox.sap.system_model import (
    DIGITS,
    NUMBERED,
    ORDER_REQUIRED,
    PARENTS,
    PARTNER_CATEGORIES,
    Record,
    bad_request,
)


def derive_computed(entity_set: EntitySet, record: Record) -> None:
    """Values S/4 computes itself on every write through the API (seeded data is kept as loaded).

    A_AddressPhoneNumber.InternationalPhoneNumber is derived from PhoneNumber and
    DestinationLocationCountry, whatever the client sent for it.
    """
    if entity_set.name != "A_AddressPhoneNumber":
        return
    number, country = record.get("PhoneNumber") or "", record.get("DestinationLocationCountry") or None
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        record["InternationalPhoneNumber"] = ""
        return
    record["InternationalPhoneNumber"] = phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164
    )


class SystemChecks:
    """Write checks and key assignment; mixed into ``SapSystem``."""

    def _decode(self, entity_set: EntitySet, payload: Mapping[str, Any], *, allow_navigation: bool) -> Record:
        """Payload properties as native values; 400 for unknown properties, bad types or lengths."""
        if not isinstance(payload, Mapping):
            raise bad_request(CODE_MALFORMED, "The request body is not a JSON object")
        values: Record = {}
        for name, raw in payload.items():
            if name == "__metadata":
                continue
            prop = entity_set.properties.get(name)
            if prop is None:
                if name in entity_set.navigations:
                    if allow_navigation:
                        continue
                    raise bad_request(
                        CODE_MALFORMED,
                        f"Deep update of navigation property '{name}' is not supported",
                        name,
                    )
                raise bad_request(CODE_MALFORMED, f"Property '{name}' is invalid", name)
            values[name] = None if raw is None else decode_value(prop, raw)
        return values

    def _assign_key(self, entity_set: EntitySet, record: Record) -> None:
        name = entity_set.name
        if name in NUMBERED:
            prop, _, digits = NUMBERED[name]
            if record.get(prop) is None:
                number = self._next_number[name]
                while self._exists_number(entity_set, prop, str(number).zfill(digits)):
                    number += 1
                record[prop] = str(number).zfill(digits)
                self._next_number[name] = number + 1
        elif name == "A_SalesOrderItem" and record.get("SalesOrderItem") is None:
            items = [
                int(r["SalesOrderItem"])
                for r in self._where(name, "SalesOrder", record.get("SalesOrder"))
                if DIGITS.match(r["SalesOrderItem"] or "")
            ]
            record["SalesOrderItem"] = str((max(items) // 10 + 1) * 10 if items else 10)
        elif name in ("A_AddressEmailAddress", "A_AddressPhoneNumber"):
            missing = [k for k in ("Person", "OrdinalNumber") if record.get(k) is None]
            if missing and not self.assigns_ordinal_numbers:
                raise ODataError(
                    400,
                    CODE_MALFORMED,
                    f"Key property {', '.join(missing)} of {entity_set.type_name} is missing",
                    [
                        {"code": CODE_MALFORMED, "message": f"Enter {k}", "propertyref": k, "target": k}
                        for k in missing
                    ],
                )
            if record.get("Person") is None:
                record["Person"] = ""
            if record.get("OrdinalNumber") is None:
                used = [
                    int(r["OrdinalNumber"])
                    for r in self._where(name, "AddressID", record.get("AddressID"))
                    if r.get("Person") == record.get("Person") and DIGITS.match(r["OrdinalNumber"] or "")
                ]
                record["OrdinalNumber"] = str(max(used) + 1 if used else 1)

    def _exists_number(self, entity_set: EntitySet, prop: str, value: str) -> bool:
        if len(entity_set.keys) == 1:
            return (value,) in self._tables[entity_set.name]
        if (entity_set.name, prop) in self._index:
            return bool(self._where(entity_set.name, prop, value))
        return any(r.get(prop) == value for r in self._tables[entity_set.name].values())

    def _check_parent(self, entity_set: EntitySet, record: Record) -> None:
        if entity_set.name not in PARENTS or entity_set.name == "A_Customer":
            return
        parent_name, mapping = PARENTS[entity_set.name]
        ((child_prop, parent_prop),) = mapping.items()
        if not self._where(parent_name, parent_prop, record.get(child_prop)):
            raise bad_request(
                CODE_BUSINESS, f"{parent_name.removeprefix('A_')} {record.get(child_prop)} does not exist"
            )

    def _check_required(self, entity_set: EntitySet, record: Record) -> None:
        """The business fields S/4 requires when an entity is created through the API; one error detail
        per offending property, as S/4 collects its messages before rejecting the request.

        Only API creates are checked: data files (``load``) hold what a system already contains."""
        problems: list[tuple[str, str, str]] = []  # (message code, message, property)

        def require(*names: str) -> None:
            for name in names:
                if not record.get(name):
                    problems.append(("00/055", f"Fill in all required entry fields: {name}", name))

        name = entity_set.name
        if name == "A_BusinessPartner":
            category = record.get("BusinessPartnerCategory")
            if not category:
                require("BusinessPartnerCategory")
            elif category not in PARTNER_CATEGORIES:
                problems.append(
                    (
                        "00/058",
                        f"Entry {category} for BusinessPartnerCategory does not exist (1 person, "
                        "2 organization, 3 group)",
                        "BusinessPartnerCategory",
                    )
                )
            elif category == "1":
                require("LastName")
            else:
                require("OrganizationBPName1")
            grouping = record.get("BusinessPartnerGrouping") or self.standard_grouping
            if not grouping:
                problems.append(
                    (
                        "00/055",
                        "Fill in all required entry fields: BusinessPartnerGrouping (no standard grouping "
                        "is defined for internal number assignment)",
                        "BusinessPartnerGrouping",
                    )
                )
            elif grouping not in self.groupings:
                problems.append(
                    (
                        "00/058",
                        f"Entry {grouping} for BusinessPartnerGrouping does not exist",
                        "BusinessPartnerGrouping",
                    )
                )
            else:
                record["BusinessPartnerGrouping"] = grouping
        elif name == "A_SalesOrder":
            require(*ORDER_REQUIRED)
        elif name == "A_SalesOrderItem":
            require("Material")
            quantity = record.get("RequestedQuantity")
            if quantity is None or quantity <= 0:
                problems.append(
                    ("00/055", "Enter a RequestedQuantity greater than zero", "RequestedQuantity")
                )
        if problems:
            details = [
                {"code": code, "message": message, "propertyref": prop, "target": prop}
                for code, message, prop in problems
            ]
            code, message, _ = problems[0]
            if len(problems) > 1 and code == "00/055":
                message = "Fill in all required entry fields: " + ", ".join(p for _, _, p in problems)
            raise ODataError(400, code, message, details)

    def _check_references(self, entity_set: EntitySet, record: Record) -> None:
        """The references S/4 checks on an order: the sold-to party is a customer, materials exist."""
        if entity_set.name == "A_SalesOrder":
            sold_to = record.get("SoldToParty")
            if not sold_to:
                raise bad_request("V1/302", "Enter a sold-to party", "SoldToParty")
            if (sold_to,) not in self._tables["A_Customer"]:
                raise bad_request("V1/302", f"Sold-to party {sold_to} does not exist", "SoldToParty")
            # SD takes a sold-to party only in a sales area the customer is extended to (its sales
            # area data, A_CustomerSalesArea: currency, terms, partner functions): a customer known
            # to financial accounting alone, or to other sales organisations, is refused.
            area = (
                sold_to,
                record.get("SalesOrganization"),
                record.get("DistributionChannel"),
                record.get("OrganizationDivision"),
            )
            if area not in self._tables["A_CustomerSalesArea"]:
                raise bad_request(
                    "VP/199",
                    f"Sold-to party {sold_to} not maintained for sales area {' '.join(map(str, area[1:]))}",
                    "SoldToParty",
                )
        elif entity_set.name == "A_SalesOrderItem":
            material = record.get("Material")
            if material and (material,) not in self._tables["A_Product"]:
                raise bad_request(
                    "M3/305", f"Material {material} does not exist or is not activated", "Material"
                )
