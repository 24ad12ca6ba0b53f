"""What `synchub connections test` checks of the SAP settings the mappings name (issue 11).

The four released APIs read no Customizing, so a setting is checked by its use: SAP "answers" for a
value when a record uses it. A value no record uses yet is a warning, not a failure (a new grouping or
a sales area without customers is legitimate), but it is what makes every create fail when it is a
typo; setup/sap/README.md says where each value is kept in SAP.

- **sales area** of the orders (``orders.header`` in order.yaml) and of the partners SyncHub creates
  (``to_Customer.to_CustomerSalesArea`` in customer.yaml's publish): a customer extended to it.
- **order type** (``orders.header.SalesOrderType``): a sales order of that type.
- **BP grouping** (customer.yaml's publish ``BusinessPartnerGrouping``): a partner in it.
- **tax types** (the ``tax_type`` value map): a tax number of each type (the others listed).
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.base import CheckResult
from connectors.errors import ConnectorError
from mdm.config import Mapping

BP = "API_BUSINESS_PARTNER"
ORDERS = "API_SALES_ORDER_SRV"
_AREA_PREFIX = "to_Customer.to_CustomerSalesArea[0]."


class _Prober(Protocol):
    def any_match(self, service_name: str, entity_set_name: str, query_filter: str) -> bool: ...


@dataclass(frozen=True)
class Probe:
    check: str  # the verdict's name, e.g. "setting:sales_area"
    what: str  # for people: "sales area 1010/10/00 (orders.header)"
    service: str
    entity_set: str
    filter: str


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _constants(publish: AbcMapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The ``{value: ...}`` fields of a publish section under ``prefix``, by field name."""
    return {
        name.removeprefix(prefix): rule["value"]
        for name, rule in publish.items()
        if name.startswith(prefix) and isinstance(rule, dict) and "value" in rule
    }


def _area(values: AbcMapping[str, Any], division: str) -> tuple[str, str, str]:
    return (
        str(values.get("SalesOrganization") or ""),
        str(values.get("DistributionChannel") or ""),
        str(values.get(division) or ""),
    )


def sap_probes(mappings: AbcMapping[str, Mapping]) -> list[Probe]:
    """The SAP settings the mappings name, each as a read that finds a record using it."""
    probes: list[Probe] = []
    areas: dict[tuple[str, str, str], str] = {}
    order = mappings.get("order")
    header = order.orders.header if order and order.orders else {}
    if header:
        areas[_area(header, "OrganizationDivision")] = "order.yaml orders.header"
        if header.get("SalesOrderType"):
            probes.append(
                Probe(
                    "setting:order_type",
                    f"order type {header['SalesOrderType']} (order.yaml orders.header)",
                    ORDERS,
                    "A_SalesOrder",
                    f"SalesOrderType eq {_literal(header['SalesOrderType'])}",
                )
            )
    customer = mappings.get("customer")
    publish = customer.publish["sap"].rules if customer else {}
    area_values = _constants(publish, _AREA_PREFIX)
    if area_values:
        areas.setdefault(_area(area_values, "Division"), "customer.yaml publish")
    for (org, channel, division), where in areas.items():
        probes.append(
            Probe(
                "setting:sales_area",
                f"sales area {org}/{channel}/{division} ({where})",
                BP,
                "A_CustomerSalesArea",
                f"SalesOrganization eq {_literal(org)} and DistributionChannel eq {_literal(channel)} "
                f"and Division eq {_literal(division)}",
            )
        )
    grouping = _constants(publish).get("BusinessPartnerGrouping")
    if grouping:
        probes.append(
            Probe(
                "setting:bp_grouping",
                f"business partner grouping {grouping} (customer.yaml publish)",
                BP,
                "A_BusinessPartner",
                f"BusinessPartnerGrouping eq {_literal(grouping)}",
            )
        )
    tax_types = (customer.value_maps.get("tax_type") if customer else None) or {}
    for tax_type in sorted(set(tax_types.values())):
        probes.append(
            Probe(
                "setting:tax_types",
                f"tax type {tax_type}",
                BP,
                "A_BusinessPartnerTaxNumber",
                f"BPTaxType eq {_literal(tax_type)}",
            )
        )
    return probes


def check_sap_settings(connector: _Prober, mappings: AbcMapping[str, Mapping]) -> list[CheckResult]:
    """One verdict per setting (the tax types together): in use, not seen (a warning), or unreadable."""
    results: list[CheckResult] = []
    tax_seen: list[str] = []
    tax_unseen: list[str] = []
    for probe in sap_probes(mappings):
        try:
            found = connector.any_match(probe.service, probe.entity_set, probe.filter)
        except ConnectorError as exc:
            results.append(CheckResult("sap", probe.check, False, f"{probe.what}: {exc}"))
            continue
        if probe.check == "setting:tax_types":
            (tax_seen if found else tax_unseen).append(probe.what.removeprefix("tax type "))
            continue
        results.append(
            CheckResult(
                "sap",
                probe.check,
                True,
                f"{probe.what}: in use ({probe.entity_set})"
                if found
                else f"{probe.what}: no {probe.entity_set} uses it yet; check the value with your SAP "
                "team (setup/sap/README.md), a value SAP does not know fails every create",
                warning=not found,
            )
        )
    if tax_seen or tax_unseen:
        detail = f"in use: {', '.join(tax_seen) or 'none'}"
        if tax_unseen:
            detail += f"; not seen yet: {', '.join(tax_unseen)} (tax_type value map, setup/sap/README.md)"
        results.append(CheckResult("sap", "setting:tax_types", True, detail, warning=not tax_seen))
    return results
