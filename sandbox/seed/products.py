"""Products and prices: SAP products with descriptions, sales data and price conditions, and the CRM's
copies with pricebook entries."""

from __future__ import annotations

import random
from typing import Any

from sandbox.salesforce.schema import make_id
from sandbox.seed.common import (
    DAY,
    PRICING_SERVICE,
    PRODUCT_SERVICE,
    REF_TIME,
    SAP_END_OF_TIME_DATE,
    clip,
    dec,
    sap_date,
    sap_timestamp,
    sf_datetime,
)
from sandbox.seed.tables import (
    FX,
    PRODUCT_ADJECTIVES,
    PRODUCT_NOUNS,
    SALES_ORGS,
    SAP_USERS,
    SERVICES,
    TYPE_TO_FAMILY,
    UNIT_TO_SF,
)
from sandbox.seed.world import WorldBase


class Products(WorldBase):
    """SAP products with sales data and price conditions, and the CRM's copies with pricebook entries."""

    def products(self, rng: random.Random) -> None:
        n = self.o.products
        sap: dict[str, list[dict]] = {
            s: [] for s in ("A_Product", "A_ProductDescription", "A_ProductSales", "A_ProductSalesDelivery")
        }
        pricing: dict[str, list[dict]] = {"A_SlsPrcgConditionRecord": [], "A_SlsPrcgCndnRecdValidity": []}
        self.product_info: list[dict[str, Any]] = []
        names_seen: set[str] = set()
        record_no = 0
        for i in range(n):
            product = f"TG-{1001 + i}"
            kind = rng.choices(("FERT", "HAWA", "DIEN"), (50, 40, 10))[0]
            if kind == "DIEN":
                en, de = rng.choice(SERVICES)
                unit = "H"
            else:
                adj_en, adj_de = rng.choice(PRODUCT_ADJECTIVES)
                noun_en, noun_de = rng.choice(PRODUCT_NOUNS)
                en, de = f"{adj_en} {noun_en}", f"{adj_de}{noun_de.lower()}"
                unit = rng.choices(("PC", "EA", "KG", "M", "L"), (60, 15, 10, 10, 5))[0]
            model = f"{rng.choice('ABCDHKMRSX')}{rng.choice('ABXZ')}-{rng.randint(1, 99) * 10}"
            en, de = f"{en} {model}", f"{de} {model}"
            if en in names_seen:
                en, de = f"{en}/{i}", f"{de}/{i}"
            names_seen.add(en)
            created, modified = self._stamps(rng, 1500)
            deleted = rng.random() < 0.04
            group = {"FERT": "P00", "HAWA": "L00", "DIEN": "S00"}[kind] + str(rng.randint(1, 5))
            sap["A_Product"].append(
                {
                    "Product": product,
                    "ProductType": kind,
                    "CrossPlantStatus": "02" if rng.random() < 0.04 else "",
                    "CreationDate": sap_date(created),
                    "CreatedByUser": rng.choice(SAP_USERS),
                    "LastChangeDate": sap_date(modified),
                    "LastChangedByUser": rng.choice(SAP_USERS),
                    "LastChangeDateTime": sap_timestamp(modified),
                    "IsMarkedForDeletion": deleted,
                    "ProductGroup": group,
                    "BaseUnit": unit,
                    "Division": "00",
                    "ItemCategoryGroup": "LEIS" if kind == "DIEN" else "NORM",
                    "IndustrySector": "M",
                    "GrossWeight": dec(0 if kind == "DIEN" else rng.uniform(0.1, 40), 3),
                    "NetWeight": dec(0, 3),
                    "WeightUnit": "" if kind == "DIEN" else "KG",
                }
            )
            sap["A_Product"][-1]["NetWeight"] = dec(float(sap["A_Product"][-1]["GrossWeight"]) * 0.9, 3)
            sap["A_ProductDescription"].append(
                {"Product": product, "Language": "EN", "ProductDescription": en}
            )
            if rng.random() < 0.85:
                sap["A_ProductDescription"].append(
                    {"Product": product, "Language": "DE", "ProductDescription": clip(de, 40)}
                )
            sap["A_ProductSales"].append(
                {
                    "Product": product,
                    "SalesStatus": "" if not deleted else "03",
                    "TaxClassification": "1",
                    "TransportationGroup": "0001",
                }
            )
            price_eur = round(rng.uniform(20, 80) if kind == "DIEN" else rng.lognormvariate(4.5, 1.1) + 5, 2)
            prices: dict[str, float] = {}
            for currency, sales_org in SALES_ORGS.items():
                if currency != "EUR" and rng.random() < (0.2 if currency != "USD" else 0.75):
                    continue
                sap["A_ProductSalesDelivery"].append(
                    {
                        "Product": product,
                        "ProductSalesOrg": sales_org,
                        "ProductDistributionChnl": "10",
                        "ItemCategoryGroup": sap["A_Product"][-1]["ItemCategoryGroup"],
                        "SalesMeasureUnit": unit,
                        "ProductSalesStatus": "",
                        "SupplyingPlant": sales_org,
                        "IsMarkedForDeletion": False,
                    }
                )
                price = round(price_eur * FX[currency], 2)
                prices[currency] = price
                windows = []
                start = REF_TIME - rng.randint(30, 300) * DAY
                if rng.random() < 0.3:  # an expired price before the current one
                    earlier = start - rng.randint(120, 400) * DAY
                    windows.append((earlier, start - DAY, round(price * 0.93, 2)))
                if rng.random() < 0.1:  # a price that starts in the future ends the current one
                    future = REF_TIME + rng.randint(10, 90) * DAY
                    windows.append((start, future - DAY, price))
                    windows.append((future, None, round(price * 1.05, 2)))
                else:
                    windows.append((start, None, price))
                for valid_from, valid_to, rate in windows:
                    record_no += 1
                    cond = f"{record_no:010d}"
                    end = sap_date(valid_to) if valid_to is not None else SAP_END_OF_TIME_DATE
                    pricing["A_SlsPrcgConditionRecord"].append(
                        {
                            "ConditionRecord": cond,
                            "ConditionSequentialNumber": "01",
                            "ConditionTable": "304",
                            "ConditionApplication": "V",
                            "ConditionType": "PR00",
                            "ConditionValidityStartDate": sap_date(valid_from),
                            "ConditionValidityEndDate": end,
                            "CreatedByUser": rng.choice(SAP_USERS),
                            "CreationDate": sap_date(valid_from - 5 * DAY),
                            "ConditionCalculationType": "C",
                            "ConditionRateValue": dec(rate, 3),
                            "ConditionRateValueUnit": currency,
                            "ConditionQuantity": "1",
                            "ConditionQuantityUnit": unit,
                            "ConditionToBaseQtyNmrtr": "1",
                            "ConditionToBaseQtyDnmntr": "1",
                            "BaseUnit": unit,
                            "ConditionIsDeleted": False,
                            "ConditionReleaseStatus": "",
                        }
                    )
                    pricing["A_SlsPrcgCndnRecdValidity"].append(
                        {
                            "ConditionRecord": cond,
                            "ConditionValidityEndDate": end,
                            "ConditionValidityStartDate": sap_date(valid_from),
                            "ConditionApplication": "V",
                            "ConditionType": "PR00",
                            "SalesOrganization": sales_org,
                            "DistributionChannel": "10",
                            "Material": product,
                            "Customer": "",
                            "Division": "",
                        }
                    )
            self.product_info.append(
                {
                    "product": product,
                    "kind": kind,
                    "en": en,
                    "de": de,
                    "unit": unit,
                    "deleted": deleted,
                    "prices": prices,
                    "created": created,
                    "modified": modified,
                    "sf_ids": [],
                }
            )
        self.data.sap[PRODUCT_SERVICE] = sap
        self.data.sap[PRICING_SERVICE] = pricing

    def crm_products(self, rng: random.Random) -> None:
        """Product2 copies of most SAP products, a few CRM-only products, the standard price book."""
        std_id = make_id("01s", 1)
        self.standard_pricebook = std_id
        stamp = sf_datetime(REF_TIME - 1200 * DAY)
        self.data.salesforce["Pricebook2"] = [
            {
                "Id": std_id,
                "IsDeleted": False,
                "Name": "Standard Price Book",
                "IsActive": True,
                "IsArchived": False,
                "IsStandard": True,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        ]
        rows: list[tuple[dict[str, Any] | None, str, str, float, bool]] = []  # (info, code, name, price, dup)
        for info in self.product_info:
            if rng.random() < 0.85:
                name = info["en"] if rng.random() > 0.1 else rng.choice((info["de"], info["en"].upper()))
                code = info["product"] if rng.random() > 0.03 else info["product"].replace("-", " ").lower()
                rows.append((info, code, name, info["prices"]["EUR"], False))
        copies = list(rows)
        for _ in range(round(len(copies) * 0.03)):
            info, code, name, price, _dup = rng.choice(copies)
            rows.append((info, code, self._typo(rng, name), price, True))
        for k in range(max(1, self.o.products // 25) if self.o.products else 0):
            service = ("Consulting Hour", "Onboarding Package", "Premium Support", "Remote Training")[k % 4]
            price = round(rng.uniform(90, 900), 2)
            rows.append((None, f"SVC-{k + 1:03d}", f"{service} {k + 1}", price, False))
        rng.shuffle(rows)
        products, entries = [], []
        self.crm_only_products: list[str] = []
        self.entries: list[tuple[str, str, float, dict[str, Any] | None]] = []  # (entry Id, product Id, ...)
        for number, (info, code, name, price, dup) in enumerate(rows, start=1):
            pid = make_id("01t", number)
            created, modified = self._stamps(rng, 1000)
            unit = info["unit"] if info else "H"
            active = not info["deleted"] if info else True
            if info and info["deleted"] and rng.random() < 0.5:
                active = True  # the CRM copy missed the deletion flag
            products.append(
                {
                    "Id": pid,
                    "Name": name,
                    "ProductCode": code,
                    "IsActive": active,
                    "Family": TYPE_TO_FAMILY[info["kind"]] if info else "Services",
                    "QuantityUnitOfMeasure": UNIT_TO_SF[unit],
                    "IsDeleted": False,
                    "IsArchived": False,
                    "Description": info["de"] if info and rng.random() < 0.2 else None,
                    "CreatedDate": sf_datetime(created),
                    "LastModifiedDate": sf_datetime(modified),
                    "SystemModstamp": sf_datetime(modified),
                }
            )
            if products[-1]["Description"] is None:
                del products[-1]["Description"]
            if info:
                info["sf_ids"].append(pid)
            else:
                self.crm_only_products.append(pid)
            if dup:
                continue
            list_price = price if rng.random() > 0.1 else round(price * 0.95, 2)  # some stale list prices
            eid = make_id("01u", len(entries) + 1)
            entries.append(
                {
                    "Id": eid,
                    "Pricebook2Id": std_id,
                    "Product2Id": pid,
                    "UnitPrice": list_price,
                    "IsActive": active,
                    "UseStandardPrice": False,
                    "IsDeleted": False,
                    "IsArchived": False,
                    "CreatedDate": sf_datetime(created),
                    "LastModifiedDate": sf_datetime(modified),
                    "SystemModstamp": sf_datetime(modified),
                }
            )
            self.entries.append((eid, pid, list_price, info))
        self.data.salesforce["Product2"] = products
        self.data.salesforce["PricebookEntry"] = entries

    # ---- contacts
