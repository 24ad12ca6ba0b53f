"""How the CRM and the ERP each hold a company: Salesforce Accounts and SAP business partners with their
address, phone, e-mail, roles, tax number, customer and sales area, each with its own variants."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

from sandbox.salesforce.schema import make_id
from sandbox.sap.system_model import CUSTOMER_NUMBER_START
from sandbox.seed.common import (
    ADDRESS_ID_START,
    BP_NUMBER_START,
    DAY,
    SAP_END_OF_TIME_TS,
    Rng,
    clip,
    guid,
    sap_date,
    sap_time,
    sap_timestamp,
    sf_datetime,
)
from sandbox.seed.tables import (
    ABBREVIATIONS,
    ACCOUNT_SOURCES,
    AND_WORDS,
    EMAIL_LOCALS,
    EN_STREET_ABBREV,
    INCOTERMS,
    PAYMENT_TERMS,
    SAP_USERS,
    STREET_ABBREV,
    TRANSLIT,
    WEB_FORMS,
)
from sandbox.seed.world import Company, WorldBase, digit_typo


class Customers(WorldBase):
    """How the CRM and the ERP each hold a company, with each system's own variants."""

    def _name_variant(self, rng: random.Random, c: Company, crm: bool) -> str:
        """The company name as typed into one system; the CRM copy is the messier one."""
        core = c.core
        if crm:
            for long, shorts in ABBREVIATIONS:
                if long in core and rng.random() < 0.5:
                    core = core.replace(long, rng.choice(shorts))
            if " & " in core and rng.random() < 0.4:
                core = core.replace(" & ", rng.choice((AND_WORDS[c.country.language], " and ", " + ")))
        spellings = c.legal[2]
        p = rng.random()
        canonical, other, missing = (0.55, 0.35, 0.10) if crm else (0.88, 0.07, 0.05)
        if p < canonical:
            legal = spellings[0]
        elif p < canonical + other and len(spellings) > 1:
            legal = rng.choice(spellings[1:])
        elif p < canonical + other:
            legal = spellings[0]
        else:
            legal = ""
        name = core + legal
        if rng.random() < (0.08 if crm else 0.03):
            name = self._typo(rng, name)
        if not name.isascii() and rng.random() < (0.3 if crm else 0.05):
            name = unicodedata.normalize("NFKD", name.translate(TRANSLIT)).encode("ascii", "ignore").decode()
        q = rng.random()
        if q < (0.04 if crm else 0.05):
            name = name.upper()
        elif crm and q < 0.05:
            name = name.lower()
        elif crm and q < 0.07:
            name = name.replace(" ", "  ", 1) if " " in name else name + " "
        return name

    def _street_variant(self, rng: random.Random, c: Company) -> str:
        """The CRM's one-line street, in a local format with local abbreviations."""
        iso, street = c.country.iso, c.street
        if iso in ("US", "GB"):
            kind = street.rsplit(" ", 1)[-1]
            if kind in EN_STREET_ABBREV and rng.random() < 0.55:
                street = street[: -len(kind)] + rng.choice(EN_STREET_ABBREV[kind])
            line = f"{c.house} {street}"
            if iso == "US" and rng.random() < 0.06:
                line += rng.choice((f"\nSuite {rng.randint(100, 900)}", f", Ste {rng.randint(100, 900)}"))
            return line
        for long, short in STREET_ABBREV.get(iso, ()):
            if long in street and rng.random() < 0.35:
                street = street.replace(long, short, 1)
                break
        if iso == "FR":
            return rng.choice((f"{c.house} {street}", f"{c.house}, {street}", f"{c.house} {street.upper()}"))
        if iso in ("IT", "ES"):
            return rng.choice((f"{street} {c.house}", f"{street}, {c.house}"))
        line = f"{street} {c.house}"
        if iso in ("DE", "AT", "CH") and rng.random() < 0.03:
            line += rng.choice(("\nGebäude B", "\nHinterhaus", "\n2. OG"))
        return line

    @staticmethod
    def _postal_variant(rng: random.Random, c: Company, crm: bool) -> str:
        postal, iso = c.postal, c.country.iso
        if iso in ("GB", "NL") and rng.random() < (0.4 if crm else 0.1):
            return postal.replace(" ", "")
        if crm and iso in ("DE", "AT", "CH") and rng.random() < 0.04:
            return {"DE": "D-", "AT": "A-", "CH": "CH-"}[iso] + postal
        if crm and iso == "US" and rng.random() < 0.1:
            return f"{postal}-{rng.randint(1000, 9999)}"
        return postal

    @staticmethod
    def _phone_variant(rng: random.Random, c: Company) -> str:
        cc, trunk, area, sub = c.country.phone_cc, c.country.trunk, c.phone_area, c.phone_sub
        if cc == "1":
            a, x, n = area, sub[:3], sub[3:]
            return rng.choice(
                (
                    f"({a}) {x}-{n}",
                    f"+1-{a}-{x}-{n}",
                    f"{a}.{x}.{n}",
                    f"+1 {a} {x} {n}",
                    f"{a}-{x}-{n}",
                    f"{a}{x}{n}",
                )
            )
        if c.country.iso == "FR":
            grouped = " ".join(sub[i : i + 2] for i in range(0, len(sub), 2))
            return rng.choice(
                (f"+33 {area} {grouped}", f"0{area} {grouped}", f"0{area}{sub}", f"+33 (0){area} {grouped}")
            )
        forms = [f"+{cc} {area} {sub}", f"+{cc}{area}{sub}", f"00{cc} {area} {sub}"]
        if trunk:
            forms += [
                f"{trunk}{area} {sub}",
                f"{trunk}{area}/{sub}",
                f"+{cc} ({trunk}){area} {sub}",
                f"{trunk}{area}-{sub}",
            ]
        return rng.choice(forms)

    @staticmethod
    def _vat_variant(rng: random.Random, vat: str, crm: bool) -> str:
        if not vat[:2].isalpha():
            return vat if rng.random() < 0.7 else vat.replace("-", "")
        p = rng.random()
        if p < (0.5 if crm else 0.92):
            return vat
        size = 3 if vat[:3] in ("CHE", "ATU") else 2
        prefix, rest = vat[:size], vat[size:]
        if p < (0.72 if crm else 0.97):
            if prefix == "CHE":  # the Swiss UID as printed on invoices
                return f"CHE-{rest[:3]}.{rest[3:6]}.{rest[6:]} MWST"
            return f"{prefix} " + " ".join(rest[i : i + 3] for i in range(0, len(rest), 3))
        if p < 0.85 or not crm:
            return rest
        if p < 0.92:
            return vat.lower()
        return f"{prefix}-{rest}"

    def _website(self, rng: random.Random, c: Company) -> str:
        return rng.choice(WEB_FORMS).format(d=c.domain)

    # ---- Salesforce Accounts
    def accounts(self, companies: list[Company], rng: random.Random) -> list[dict]:
        picks: list[tuple[Company, bool]] = [(c, False) for c in companies if c.in_sf]
        members = [c for c in companies if c.in_sf]
        picks += [(rng.choice(members), True) for _ in range(self._dup_sf)]
        rng.shuffle(picks)
        return [self._account(rng, number, c, dup) for number, (c, dup) in enumerate(picks, start=1)]

    def _account(self, rng: random.Random, number: int, c: Company, dup: bool) -> dict:
        country = c.country
        record_id = make_id("001", number)
        c.sf_ids.append(record_id)
        created, modified = self._stamps(rng)
        miss = 0.25 if dup else 0.08  # a duplicate is usually a quick, incomplete entry
        rec: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "Name": self._name_variant(rng, c, crm=True),
            "Type": rng.choice(("Customer - Direct", "Customer - Channel"))
            if c.in_sap and rng.random() < 0.8
            else rng.choice(("Prospect", "Prospect", "Other", "Customer - Direct")),
        }
        if rng.random() > miss:
            rec["BillingStreet"] = self._street_variant(rng, c)
        rec["BillingCity"] = c.city if rng.random() > 0.05 else c.city.upper()
        if c.region >= 0 and rng.random() < (0.85 if country.iso == "US" else 0.35):
            code, name = country.regions[c.region]
            rec["BillingState"] = code if country.iso == "US" and rng.random() < 0.5 else name
        if rng.random() > miss / 2:
            rec["BillingPostalCode"] = self._postal_variant(rng, c, crm=True)
        if rng.random() > 0.03:
            rec["BillingCountry"] = self._weighted(rng, country.names)
        if rng.random() > miss:
            rec["Phone"] = self._phone_variant(rng, c)
        if rng.random() > miss + 0.07:
            rec["Website"] = self._website(rng, c)
        if c.industry and rng.random() > miss:
            rec["Industry"] = c.industry
        if rng.random() < 0.7:
            rec["NumberOfEmployees"] = c.employees
            rec["AnnualRevenue"] = float(round(c.employees * rng.uniform(80_000, 250_000), -3))
        if rng.random() < 0.25:
            rng.random()  # (the draw a per-record number once took: same stream, same seed bytes)
            rec["DunsNumber"] = c.duns
        if rng.random() < 0.5:
            rec["AccountSource"] = rng.choice(ACCOUNT_SOURCES)
        vat_missing = 0.5 if country.iso == "US" else miss + 0.17
        if self.hard:
            vat_missing += 0.1
            if "BillingPostalCode" in rec and rng.random() < 0.08:
                del rec["BillingPostalCode"]
        if c.vat and rng.random() > vat_missing:
            rec["VAT_Number__c"] = self._vat_variant(rng, c.vat, crm=True)
            if self.hard and rng.random() < 0.02:
                rec["VAT_Number__c"] = digit_typo(rng, rec["VAT_Number__c"])
        rec["CreatedDate"] = sf_datetime(created)
        rec["LastModifiedDate"] = rec["SystemModstamp"] = sf_datetime(modified)
        return rec

    # ---- SAP business partners
    def partners(self, companies: list[Company], rng: random.Random) -> dict[str, list[dict]]:
        picks: list[tuple[Company, bool]] = [(c, False) for c in companies if c.in_sap]
        members = [c for c in companies if c.in_sap]
        picks += [(rng.choice(members), True) for _ in range(self._dup_sap)]
        rng.shuffle(picks)
        sets: dict[str, list[dict]] = {
            name: []
            for name in (
                "A_BusinessPartner",
                "A_BusinessPartnerAddress",
                "A_AddressEmailAddress",
                "A_AddressPhoneNumber",
                "A_BusinessPartnerRole",
                "A_BusinessPartnerTaxNumber",
                "A_Customer",
                "A_CustomerSalesArea",
            )
        }
        self.partner_info: dict[str, tuple[str, str, str]] = {}  # BP -> (sales org, currency, payment terms)
        # BP -> its customer's number. Own numbers count up in the order the partners were created,
        # with the gaps a number range gets (customers of other account groups, cancelled creations);
        # a stream of its own, so the rest of the seed stays as it was.
        self.customer_of: dict[str, str] = {}
        cvi = Rng(f"{self.o.seed}-customer-numbers")
        self._area_rng = Rng(f"{self.o.seed}-sales-areas")
        next_customer = CUSTOMER_NUMBER_START
        for number in range(len(picks)):
            bp = str(BP_NUMBER_START + number)
            if self.o.same_customer_numbers:
                self.customer_of[bp] = bp
            else:
                next_customer += cvi.randint(1, 6) if cvi.random() < 0.15 else 0
                self.customer_of[bp] = str(next_customer)
                next_customer += 1
        for number, (c, dup) in enumerate(picks):
            self._partner(rng, str(BP_NUMBER_START + number), str(ADDRESS_ID_START + number), c, dup, sets)
        return sets

    def _partner(
        self,
        rng: random.Random,
        bp: str,
        address_id: str,
        c: Company,
        dup: bool,
        sets: dict[str, list[dict]],
    ) -> None:
        country = c.country
        c.sap_ids.append(bp)
        created, modified = self._stamps(rng, 2500)
        changed = rng.random() < 0.85
        user = rng.choice(SAP_USERS)
        name = self._name_variant(rng, c, crm=dup)
        if rng.random() < 0.15 and name.endswith(c.legal[2][0]) and c.legal[2][0]:
            name1, name2 = name[: -len(c.legal[2][0])], c.legal[2][0].strip()  # legal form in name line 2
        elif len(name) <= 40:
            name1, name2 = name, ""
        else:
            cut = name.rfind(" ", 0, 41)
            cut = cut if cut > 0 else 40
            name1, name2 = name[:cut], clip(name[cut:].strip(), 40)
        full = clip(f"{name1} {name2}".strip(), 80)
        search = clip(c.slug.split("-")[0].upper(), 20)
        customer = self.customer_of[bp]
        sets["A_BusinessPartner"].append(
            {
                "BusinessPartner": bp,
                "Customer": customer,
                "BusinessPartnerCategory": "2",
                "BusinessPartnerFullName": full,
                "BusinessPartnerName": full,
                "BusinessPartnerGrouping": rng.choice(("BP02", "BP02", "BP02", "Z001")),
                "BusinessPartnerUUID": guid(rng),
                "OrganizationBPName1": clip(name1, 40),
                "OrganizationBPName2": name2,
                "SearchTerm1": search,
                "SearchTerm2": clip(c.city.upper(), 20) if rng.random() < 0.4 else "",
                "Language": country.language,
                "CorrespondenceLanguage": country.language,
                "LegalForm": c.legal[1] if rng.random() < 0.7 else "",
                "IsNaturalPerson": "",
                "BusinessPartnerIsBlocked": False,
                "IsMarkedForArchiving": False,
                "CreatedByUser": user,
                "CreationDate": sap_date(created),
                "CreationTime": sap_time(created),
                "LastChangedByUser": rng.choice(SAP_USERS) if changed else "",
                "LastChangeDate": sap_date(modified) if changed else None,
                "LastChangeTime": sap_time(modified) if changed else "PT00H00M00S",
            }
        )
        if rng.random() < 0.05:  # legacy migration: house number left inside the street
            street, house = clip(self._street_variant(rng, c).replace("\n", " "), 60), ""
        elif country.iso == "FR":
            street, house = c.street[:1].upper() + c.street[1:], c.house
        else:
            street, house = c.street, c.house
        region = country.regions[c.region][0] if c.region >= 0 and rng.random() > 0.1 else ""
        sets["A_BusinessPartnerAddress"].append(
            {
                "BusinessPartner": bp,
                "AddressID": address_id,
                "ValidityStartDate": sap_timestamp(created - created % DAY),
                "ValidityEndDate": SAP_END_OF_TIME_TS,
                "AddressUUID": guid(rng),
                "AddressTimeZone": country.time_zone,
                "CityName": c.city,
                "Country": country.iso,
                "FullName": full,
                "HouseNumber": house,
                "Language": country.language,
                "PostalCode": ""
                if self.hard and rng.random() < 0.04
                else self._postal_variant(rng, c, crm=False),
                "Region": region,
                "StreetName": street,
            }
        )
        if rng.random() > (0.2 if dup else 0.1):
            national = (
                f"{c.phone_area}-{c.phone_sub[:3]}-{c.phone_sub[3:]}"
                if country.phone_cc == "1"
                else f"{country.trunk}{c.phone_area} {c.phone_sub}"
            )
            sets["A_AddressPhoneNumber"].append(
                {
                    "AddressID": address_id,
                    "Person": "",
                    "OrdinalNumber": "1",
                    "DestinationLocationCountry": country.iso,
                    "IsDefaultPhoneNumber": True,
                    "PhoneNumber": national,
                    "PhoneNumberExtension": "",
                    "InternationalPhoneNumber": f"+{country.phone_cc}{c.phone_area}{c.phone_sub}",
                    "PhoneNumberType": "1",
                }
            )
        if rng.random() > 0.15:
            locals_ = EMAIL_LOCALS["DE" if country.language == "DE" else "EN"]
            domain = c.domain if rng.random() > 0.05 else f"{c.domain.split('.')[0]}-group.com"
            email = f"{rng.choice(locals_)}@{domain}"
            sets["A_AddressEmailAddress"].append(
                {
                    "AddressID": address_id,
                    "Person": "",
                    "OrdinalNumber": "1",
                    "IsDefaultEmailAddress": True,
                    "EmailAddress": email,
                    "SearchEmailAddress": clip(email.upper(), 20),
                }
            )
        for role in ("FLCU00", "FLCU01") if rng.random() < 0.9 else ("FLCU00",):
            sets["A_BusinessPartnerRole"].append(
                {
                    "BusinessPartner": bp,
                    "BusinessPartnerRole": role,
                    "ValidFrom": sap_timestamp(created),
                    "ValidTo": SAP_END_OF_TIME_TS,
                }
            )
        vat = None
        if c.vat and rng.random() > (0.25 if dup else 0.1) + (0.12 if self.hard else 0.0):
            vat = self._vat_variant(rng, c.vat, crm=False)
            sets["A_BusinessPartnerTaxNumber"].append(
                {
                    "BusinessPartner": bp,
                    "BPTaxType": country.tax_type,
                    "BPTaxNumber": vat,
                    "BPTaxLongNumber": "",
                }
            )
        blocked = rng.random() < 0.02
        sets["A_Customer"].append(
            {
                "Customer": customer,
                "CustomerName": clip(name, 80),
                "CustomerFullName": clip(name, 220),
                "CustomerAccountGroup": "CUST",
                "CreatedByUser": user,
                "CreationDate": sap_date(created),
                "OrderIsBlockedForCustomer": "01" if blocked else "",
                "DeliveryIsBlocked": "",
                "BillingIsBlockedForCustomer": "",
                "PostingIsBlocked": False,
                "DeletionIndicator": False,
                "VATRegistration": vat if vat and country.iso != "US" and rng.random() < 0.6 else "",
            }
        )
        areas: list[tuple[str, str, random.Random]] = [(country.sales_org, country.currency, rng)]
        if rng.random() < 0.1:
            extra = "1710" if country.sales_org != "1710" else "1010"
            areas.append((extra, "USD" if extra == "1710" else "EUR", rng))
        # Most customers abroad are extended to the euro sales organisation too, which the CRM's orders
        # go to; the others are not, and SD refuses them there (a stream of its own: the rest of the
        # seed stays as it was).
        if all(area[0] != "1010" for area in areas) and self._area_rng.random() < 0.8:
            areas.append(("1010", "EUR", self._area_rng))
        terms = rng.choice(PAYMENT_TERMS)
        self.partner_info[bp] = (areas[0][0], areas[0][1], terms)
        for sales_org, currency, pick in areas:
            sets["A_CustomerSalesArea"].append(
                {
                    "Customer": customer,
                    "SalesOrganization": sales_org,
                    "DistributionChannel": "10",
                    "Division": "00",
                    "Currency": currency,
                    "CustomerPaymentTerms": terms,
                    "CustomerPricingProcedure": "01",
                    "CustomerGroup": "01",
                    "CustomerAccountAssignmentGroup": "01",
                    "DeliveryPriority": "02",
                    "ShippingCondition": "01",
                    "IncotermsClassification": (inco := pick.choice(INCOTERMS)),
                    "IncotermsLocation1": clip(c.city, 70) if inco != "EXW" else "Walldorf",
                    "OrderIsBlockedForCustomer": "01" if blocked else "",
                    "DeletionIndicator": False,
                    "PartialDeliveryIsAllowed": "",
                }
            )

    def link_accounts(self, companies: list[Company], accounts: list[dict], rng: random.Random) -> None:
        """Some CRM accounts were linked to their SAP customer by hand, sometimes in the padded form."""
        by_id = {a["Id"]: a for a in accounts}
        for c in companies:
            if not (c.sf_ids and c.sap_ids):
                continue
            for sf_id in c.sf_ids:
                if rng.random() < 0.25:
                    number = self.customer_of[rng.choice(c.sap_ids)]  # the number on SAP's invoices
                    padded = rng.random() >= 0.8  # as shown in SAP GUI, with leading zeros
                    by_id[sf_id]["SAP_Customer_Number__c"] = number.zfill(10) if padded else number

    # ---- products and prices
