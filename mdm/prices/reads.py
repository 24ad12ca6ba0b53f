"""What the price sync reads from the store (and, for pricebooks, the org): the valid SAP prices, the
CRM products per material, the staged entries, the configured pricebooks (created when missing)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, select, update

from connectors.base import WriteRecord
from mdm.config.pricing import (
    ENTITY,
    STANDARD_KEY,
)
from mdm.prices.conditions import Condition, PriceKey, condition_from_values, valid_prices
from mdm.prices.model import (
    CHUNK,
    PRICEBOOK_ENTITY,
    PRODUCT_ENTITY,
    WRITE_CHUNK,
    Entry,
    EntryKey,
    PriceSyncError,
    decimal_of,
    log,
    primary_copy,
)
from mdm.steps.write import Write, apply_writes
from mdm.store.models import XREF_RECORD, CanonicalRecord, PublishState, SourceRecord, Xref
from mdm.store.staging import StagedRecord, payload_hash, stage_records


class StoreReads:
    """The price sync's reads, before it plans anything."""

    # -- reading the store ----------------------------------------------------------------------------
    def _conditions(self) -> tuple[dict[PriceKey, Condition], Counter[str], int, set[str]]:
        """The valid price per key, the skipped conditions by reason, how many conditions were read, and
        the materials with a quarantined condition (their entries are left alone until it passes)."""
        skipped: Counter[str] = Counter()
        held: set[str] = set()
        read = 0

        def usable() -> Iterator[Condition]:
            nonlocal read
            with self.sessions() as session:
                rows = session.execute(
                    select(
                        CanonicalRecord.source_key, CanonicalRecord.values, CanonicalRecord.quarantine_reason
                    )
                    .where(
                        CanonicalRecord.system == "sap",
                        CanonicalRecord.entity == ENTITY,
                        CanonicalRecord.is_deleted.is_(False),
                    )
                    .execution_options(yield_per=5000)
                )
                for key, values, quarantined in rows:
                    read += 1
                    if quarantined is not None:
                        # Kept out of publishing: neither its price nor the absence of it is written.
                        skipped["quarantined"] += 1
                        if (values or {}).get("material"):
                            held.add(str(values["material"]))
                        continue
                    condition, reason = condition_from_values(key, values or {}, self.config.condition_type)
                    if condition is None:
                        skipped[reason or "incomplete"] += 1
                        continue
                    yield condition

        prices = valid_prices(usable(), self.day)
        return prices, skipped, read, held

    def _products(self) -> tuple[dict[str, str], set[str]]:
        """Per SAP material, the Product2 Id of its golden product; and every Product2 whose golden product
        has an SAP record (SAP masters their prices: their other entries are SyncHub's to deactivate).

        Of several live CRM copies of one product, the price goes to the one publishing keeps active (the
        others are retired): the copy carrying the golden id, else the one SyncHub wrote last, else one
        SyncHub created, else the smallest Id.
        """
        with self.sessions() as session:
            materials: dict[str, list[str]] = defaultdict(list)
            for golden_id, key in session.execute(
                select(Xref.golden_id, Xref.source_key).where(
                    Xref.system == "sap", Xref.entity == PRODUCT_ENTITY
                )
            ):
                materials[golden_id].append(key)
            # golden id -> its live CRM copies: (Product2 Id, carries the golden id, SyncHub created it)
            copies: dict[str, list[tuple[str, bool, bool]]] = defaultdict(list)
            sap_priced: set[str] = set()
            query = (
                select(
                    Xref.golden_id,
                    Xref.source_key,
                    Xref.created_by_synchub,
                    CanonicalRecord.is_deleted,
                    CanonicalRecord.carried_golden_id,
                )
                .outerjoin(CanonicalRecord, XREF_RECORD)
                .where(Xref.system == "salesforce", Xref.entity == PRODUCT_ENTITY)
                .order_by(Xref.source_key)
            )
            for golden_id, product_id, by_us, deleted, carried in session.execute(query):
                if golden_id not in materials:
                    continue
                sap_priced.add(product_id)
                if not deleted:  # not staged yet (SyncHub just created it) counts as live
                    copies[golden_id].append((product_id, carried == golden_id, bool(by_us)))
            last_written: dict[str, str | None] = {}
            goldens = sorted(copies)
            for start in range(0, len(goldens), CHUNK):
                last_written.update(
                    session.execute(
                        select(PublishState.golden_id, PublishState.remote_key).where(
                            PublishState.system == "salesforce",
                            PublishState.golden_id.in_(goldens[start : start + CHUNK]),
                        )
                    ).all()
                )
        by_material: dict[str, str] = {}
        for golden_id, live in copies.items():
            product_id = primary_copy(live, last_written.get(golden_id))
            for material in materials[golden_id]:
                by_material[material] = product_id
        return by_material, sap_priced

    def _entries(self, pricebook_ids: set[str]) -> dict[EntryKey, Entry]:
        """The staged live entries of the configured pricebooks."""
        entries: dict[EntryKey, Entry] = {}
        multi = self.config.currency_field is not None
        with self.sessions() as session:
            rows = session.execute(
                select(CanonicalRecord.source_key, CanonicalRecord.values, SourceRecord.payload)
                .join(
                    SourceRecord,
                    and_(
                        SourceRecord.system == CanonicalRecord.system,
                        SourceRecord.entity == CanonicalRecord.entity,
                        SourceRecord.source_key == CanonicalRecord.source_key,
                    ),
                )
                .where(
                    CanonicalRecord.system == "salesforce",
                    CanonicalRecord.entity == ENTITY,
                    CanonicalRecord.is_deleted.is_(False),
                )
                .execution_options(yield_per=5000)
            )
            for key, values, payload in rows:
                values = values or {}
                pricebook_id, product_id = values.get("pricebook_id"), values.get("product_id")
                if pricebook_id not in pricebook_ids or not product_id:
                    continue
                currency = values.get("currency") if multi else None
                entries[(pricebook_id, product_id, currency)] = Entry(
                    id=key,
                    pricebook_id=pricebook_id,
                    product_id=product_id,
                    currency=currency,
                    unit_price=decimal_of(values.get("unit_price")),
                    is_active=bool(values.get("is_active")),
                    use_standard_price=bool(values.get("use_standard_price")),
                    condition_record=values.get("condition_record"),
                    synchub_id=values.get("synchub_id"),
                    payload=payload or {},
                )
        return entries

    # -- pricebooks -----------------------------------------------------------------------------------
    def _pricebooks(self) -> dict[str, str]:
        """Configured pricebook key -> Pricebook2 Id; custom pricebooks are created (or renamed and activated)
        to match the configuration. A pricebook that could not be written is left out, with an error."""
        live = self._read_pricebooks()
        standard = sorted(i for i, p in live.items() if p.get("IsStandard"))
        if not standard:
            raise PriceSyncError("the Salesforce org has no standard pricebook (Pricebook2.IsStandard)")
        ids = {STANDARD_KEY: standard[0]}
        by_key = {
            str(p.get(self.external_id)).lower(): (i, p)
            for i, p in sorted(live.items())
            if p.get(self.external_id) and not p.get("IsStandard")
        }
        records = []
        for book in self.config.pricebooks:
            want = {"Name": book.name, "IsActive": True, self.external_id: book.key}
            found = by_key.get(book.key.lower())
            if found is None:
                records.append(WriteRecord(book.key, want))
            else:
                records.append(WriteRecord(book.key, want, remote_key=found[0], expected=found[1]))
        if not records:
            return ids
        report = apply_writes(
            self.connector,
            self.pricebook_source,
            [Write(r.key, r, "pricebook") for r in records],
            system="salesforce",
            chunk_size=WRITE_CHUNK,
        )
        staged = []
        for book, record, (_, outcome) in zip(self.config.pricebooks, records, report.done, strict=True):
            if outcome.status == "failed" or not (outcome.remote_key or record.remote_key):
                self.result.counts["pricebooks_failed"] += 1
                self.result.failures.append(
                    (
                        "pricebook",
                        book.key,
                        outcome.error_code or "UNKNOWN",
                        outcome.error_message or "not written",
                        dict(record.fields),
                    )
                )
                self.result.errors.append(
                    {
                        "key": book.key,
                        "remote_key": record.remote_key,
                        "pricebook": book.key,
                        "code": outcome.error_code or "UNKNOWN",
                        "message": f"pricebook {book.name!r}: {outcome.error_message or 'not written'}",
                    }
                )
                log.warning(
                    "sync prices: pricebook %r could not be written (%s)", book.name, outcome.error_code
                )
                continue
            ids[book.key] = str(outcome.remote_key or record.remote_key)
            self.result.settled.add(book.key)
            if outcome.status != "unchanged":
                self.result.counts[f"pricebooks_{outcome.status}"] += 1
                log.info("sync prices: pricebook %r %s (%s)", book.name, outcome.status, ids[book.key])
                payload = {"Id": ids[book.key], **record.fields, "IsStandard": False}
                staged.append(StagedRecord(ids[book.key], payload))
        if staged:
            with self.sessions.begin() as session:
                stage_records(session, "salesforce", PRICEBOOK_ENTITY, staged, run_id=self.run_id)
        return ids

    def _read_pricebooks(self) -> dict[str, dict[str, Any]]:
        """Every live Pricebook2 of the org by Id, staged (records no longer there marked deleted)."""
        records = [
            r for page in self.connector.extract_changed(self.pricebook_source, None) for r in page.records
        ]
        seen = {r.key for r in records}
        with self.sessions.begin() as session:
            stage_records(
                session,
                "salesforce",
                PRICEBOOK_ENTITY,
                (StagedRecord(r.key, r.payload, r.stamp, r.is_deleted) for r in records),
                run_id=self.run_id,
            )
            gone = session.execute(
                select(SourceRecord.id, SourceRecord.payload).where(
                    SourceRecord.system == "salesforce",
                    SourceRecord.entity == PRICEBOOK_ENTITY,
                    SourceRecord.is_deleted.is_(False),
                    SourceRecord.source_key.not_in(seen) if seen else SourceRecord.id.is_not(None),
                )
            ).all()
            if gone:
                session.execute(
                    update(SourceRecord),
                    [
                        {"id": row_id, "is_deleted": True, "payload_hash": payload_hash(payload, True)}
                        for row_id, payload in gone
                    ],
                )
        return {r.key: r.payload for r in records if not r.is_deleted}

    # -- planning -------------------------------------------------------------------------------------
    def _entry_key(self, pricebook_id: str, product_id: str, currency: str) -> EntryKey:
        return (pricebook_id, product_id, currency if self.config.currency_field else None)
