"""Contacts and orders: CRM orders with items, SAP sales orders, and the truth about which are the same."""

from __future__ import annotations

import random
from typing import Any

from sandbox.salesforce.schema import make_id
from sandbox.seed.common import (
    DAY,
    ORDER_SERVICE,
    REF_TIME,
    clip,
    dec,
    iso_date,
    sap_date,
    sap_timestamp,
    sf_datetime,
)
from sandbox.seed.tables import FX, SAP_STATUS_TEXT, SAP_USERS, TITLES
from sandbox.seed.world import Company, WorldBase, ascii_slug


class Orders(WorldBase):
    """Contacts, CRM orders and SAP sales orders."""

    def contacts(
        self, accounts: list[dict], companies_by_sf: dict[str, Company], rng: random.Random
    ) -> list[dict]:
        out = []
        for number in range(1, len(accounts) // 10 + 1):
            account = rng.choice(accounts)
            c = companies_by_sf[account["Id"]]
            pools = self.pools[c.country.iso]
            first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
            created, modified = self._stamps(rng)
            rec = {
                "Id": make_id("003", number),
                "IsDeleted": False,
                "AccountId": account["Id"],
                "FirstName": clip(first, 40),
                "LastName": clip(last, 80),
                "Name": clip(f"{first} {last}", 121),
                "Salutation": rng.choice(("Mr.", "Ms.", "Dr.", "")) or None,
                "Title": rng.choice(TITLES),
                "Email": f"{ascii_slug(first)}.{ascii_slug(last)}@{c.domain}".replace("-", ""),
                "Phone": self._phone_variant(rng, c),
                "MailingCity": c.city,
                "MailingCountry": self._weighted(rng, c.country.names),
                "CreatedDate": sf_datetime(created),
                "LastModifiedDate": sf_datetime(modified),
                "SystemModstamp": sf_datetime(modified),
            }
            out.append({k: v for k, v in rec.items() if v is not None})
        return out

    # ---- orders
    def orders(self, accounts: list[dict], companies_by_sf: dict[str, Company], rng: random.Random) -> None:
        n = self.o.orders
        sf_orders, sf_items, truth = [], [], []
        so_sets: dict[str, list[dict]] = {
            "A_SalesOrder": [],
            "A_SalesOrderItem": [],
            "A_SalesOrderHeaderPartner": [],
        }
        usable_entries = [e for e in self.entries if e[3] is None or not e[3]["deleted"]]
        # Products sold only in the CRM (no SAP product) appear in draft orders, never in activated ones:
        # an activated order must be deliverable, and SAP cannot deliver what it does not know.
        sap_entries = [e for e in usable_entries if e[3] is not None]
        item_no = 0
        sap_no = 0
        if not accounts or not usable_entries:
            n_sf = 0
        else:
            n_sf = n
        for number in range(1, n_sf + 1):
            account = rng.choice(accounts)
            c = companies_by_sf[account["Id"]]
            activated = rng.random() < 0.6
            effective = REF_TIME - rng.randint(1, 90) * DAY
            created = effective - rng.randint(0, 5) * DAY + rng.randint(8 * 3600, 17 * 3600)
            modified = min(REF_TIME - 60, created + rng.randint(0, 20) * DAY)
            oid = make_id("801", number)
            order_number = f"{100 + number:08d}"
            entries = sap_entries if activated and sap_entries else usable_entries
            picks = rng.sample(entries, min(len(entries), rng.randint(1, 4)))
            total, lines = 0.0, []
            for eid, pid, price, info in picks:
                item_no += 1
                qty = float(rng.choice((1, 1, 2, 3, 5, 10, 12, 20, 25, 50)))
                lines.append((eid, pid, price, info, qty))
                total += qty * price
                sf_items.append(
                    {
                        "Id": make_id("802", item_no),
                        "IsDeleted": False,
                        "OrderId": oid,
                        "PricebookEntryId": eid,
                        "Product2Id": pid,
                        "Quantity": qty,
                        "UnitPrice": price,
                        "ListPrice": price,
                        "TotalPrice": round(qty * price, 2),
                        "OrderItemNumber": f"{item_no:010d}",
                        "CreatedDate": sf_datetime(created),
                        "LastModifiedDate": sf_datetime(modified),
                        "SystemModstamp": sf_datetime(modified),
                    }
                )
            order: dict[str, Any] = {
                "Id": oid,
                "IsDeleted": False,
                "AccountId": account["Id"],
                "Pricebook2Id": self.standard_pricebook,
                "EffectiveDate": iso_date(effective),
                # Labels unlike their category, as real orgs have (StatusCode holds the category).
                "Status": ("Booked" if number % 2 else "Activated")
                if activated
                else ("In Approval" if number % 3 == 0 else "Draft"),
                "StatusCode": "Activated" if activated else "Draft",
                "IsReductionOrder": False,
                "OrderNumber": order_number,
                "TotalAmount": round(total, 2),
                "PoNumber": f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.6 else None,
                "BillingStreet": account.get("BillingStreet"),
                "BillingCity": account.get("BillingCity"),
                "BillingPostalCode": account.get("BillingPostalCode"),
                "BillingCountry": account.get("BillingCountry"),
                "CreatedDate": sf_datetime(created),
                "LastModifiedDate": sf_datetime(modified),
                "SystemModstamp": sf_datetime(modified),
            }
            sap_order = None
            if activated and c.sap_ids and all(line[3] is not None for line in lines) and rng.random() < 0.5:
                sap_no += 1
                sap_order = str(sap_no)
                status = rng.choice(("A", "B", "C"))
                self._sales_order(
                    rng,
                    so_sets,
                    sap_order,
                    rng.choice(c.sap_ids),
                    created,
                    [(line[3], line[4]) for line in lines],
                    order.get("PoNumber") or order_number,
                    status,
                )
                order["SAP_Order_Number__c"] = sap_order
                order["SAP_Order_Status__c"] = SAP_STATUS_TEXT[status]
                order["SAP_Delivery_Status__c"] = SAP_STATUS_TEXT[status]
                order["SAP_Billing_Status__c"] = SAP_STATUS_TEXT["A" if status != "C" else "C"]
            sf_orders.append({k: v for k, v in order.items() if v is not None})
            truth.append({"salesforce": oid, "sap": sap_order})
        live_products = [p for p in self.product_info if not p["deleted"]]
        partners = [bp for bp in self.partner_info]
        while sap_no < n and partners and live_products:  # orders entered in SAP directly
            sap_no += 1
            created = REF_TIME - rng.randint(1, 120) * DAY + rng.randint(8 * 3600, 17 * 3600)
            lines = [(rng.choice(live_products), float(rng.randint(1, 40))) for _ in range(rng.randint(1, 3))]
            self._sales_order(
                rng,
                so_sets,
                str(sap_no),
                rng.choice(partners),
                created,
                lines,
                f"{rng.randint(4500000000, 4599999999)}",
                rng.choice(("A", "B", "C")),
            )
            truth.append({"salesforce": None, "sap": str(sap_no)})
        self.data.salesforce["Order"] = sf_orders
        self.data.salesforce["OrderItem"] = sf_items
        self.data.sap[ORDER_SERVICE] = so_sets
        self.truth["orders"] = truth

    def _sales_order(
        self,
        rng: random.Random,
        sets: dict[str, list[dict]],
        so: str,
        partner: str,
        created: int,
        lines: list[tuple[dict[str, Any], float]],
        po: str,
        status: str,
    ) -> None:
        sales_org, currency, terms = self.partner_info[partner]
        customer = self.customer_of[partner]  # orders name the customer, not the business partner
        modified = min(REF_TIME - 60, created + rng.randint(0, 30) * DAY)
        total = 0.0
        for position, (info, qty) in enumerate(lines, start=1):
            price = info["prices"].get(currency) or round(info["prices"]["EUR"] * FX[currency], 2)
            net = round(price * qty, 2)
            total += net
            sets["A_SalesOrderItem"].append(
                {
                    "SalesOrder": so,
                    "SalesOrderItem": str(position * 10),
                    "HigherLevelItem": "",
                    "SalesOrderItemCategory": "TAD" if info["kind"] == "DIEN" else "TAN",
                    "SalesOrderItemText": clip(info["en"], 40),
                    "Material": info["product"],
                    "RequestedQuantity": dec(qty, 3),
                    "RequestedQuantityUnit": info["unit"],
                    "TransactionCurrency": currency,
                    "NetAmount": dec(net, 3),
                    "MaterialGroup": "",
                    "PricingDate": sap_date(created),
                    "SDProcessStatus": status,
                    "DeliveryStatus": status,
                    "OrderRelatedBillingStatus": "C" if status == "C" else "",
                }
            )
        sets["A_SalesOrder"].append(
            {
                "SalesOrder": so,
                "SalesOrderType": "OR",
                "SalesOrganization": sales_org,
                "DistributionChannel": "10",
                "OrganizationDivision": "00",
                "SoldToParty": customer,
                "CreationDate": sap_date(created),
                "CreatedByUser": rng.choice(SAP_USERS),
                "LastChangeDate": sap_date(modified),
                "LastChangeDateTime": sap_timestamp(modified),
                "PurchaseOrderByCustomer": clip(po, 35),
                "SalesOrderDate": sap_date(created),
                "TotalNetAmount": dec(total, 3),
                "TransactionCurrency": currency,
                "PricingDate": sap_date(created),
                "RequestedDeliveryDate": sap_date(created + rng.randint(7, 30) * DAY),
                "CustomerPaymentTerms": terms,
                "IncotermsClassification": "EXW",
                "IncotermsLocation1": "Walldorf",
                "OverallSDProcessStatus": status,
                "OverallDeliveryStatus": status,
                "OverallTotalDeliveryStatus": status,
                "OverallOrdReltdBillgStatus": "C" if status == "C" else "",
                "OverallSDDocumentRejectionSts": "A",
                "TotalBlockStatus": "",
                "TotalCreditCheckStatus": "",
            }
        )
        for function in ("AG", "WE"):  # sold-to and ship-to party
            sets["A_SalesOrderHeaderPartner"].append(
                {"SalesOrder": so, "PartnerFunction": function, "Customer": customer}
            )
