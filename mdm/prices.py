"""Prices: SAP sales price conditions -> Salesforce PricebookEntry in every configured pricebook (issue 5).

SAP is the master of list prices. A price is the condition record of the configured type (PR00) valid
on one day (``pricing.valid_on``, default today), per material, sales organisation, distribution
channel and currency. Condition records carry no change stamp, so ``extract('price', 'sap',
full=True)`` reads the whole snapshot and stages it by payload hash (an unchanged record costs nothing,
a record gone from SAP is marked deleted), and ``extract('price', 'salesforce')`` stages the pricebook
entries the same way. ``sync_prices`` then diffs the two on the store alone:

1. the valid price per (material, sales org, channel, currency) from the live staged conditions
   (``valid_prices``: where validity windows overlap, the one that started last wins, as in SAP);
2. each material's Product2 Ids through the product cross-reference (SAP product -> golden product ->
   Salesforce products); a material with no Product2 yet is reported and tried again next run;
3. the configured pricebooks: the standard one and the others, created when missing (Pricebook2
   upserted on SyncHub_Id__c). Pricebook2 is read each run (a handful of rows) so a pricebook someone
   deleted or renamed is noticed; the records are staged as source records of entity ``pricebook``;
4. the wanted entry per pricebook, product (and currency), diffed against the staged entries: only
   differences are written, standard-pricebook entries first (Salesforce wants a standard price before
   a custom one). Entries of SAP-priced products whose price is no longer valid (expired, removed or
   deletion-flagged in SAP) are deactivated, never deleted; a product with a custom price but no valid
   standard price gets the inactive standard entry Salesforce requires.

A failed record never stops the others: it is counted, listed in ``errors`` and kept in the error queue
(``dead_letter``, entity price, system salesforce; record key: the entry's SyncHub id, or the pricebook
key for a pricebook); a later run that writes it, or finds it already right, resolves it. Errors that
stop every record (authentication, API budget, configuration) end the step.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sqlalchemy import and_, select, update

from connectors.base import EntitySource, SalesforceSource, WriteOutcome, WriteRecord
from mdm.config import load_entity_mapping
from mdm.config.pricing import (
    ENTITY,
    STANDARD_KEY,
    PricebookConfig,
    PriceSource,
    PricingConfig,
)
from mdm.runtime import Sessions, connector_for, run_step
from mdm.stats import StepStats
from mdm.steps.write import Write, apply_writes
from mdm.store.deadletter import open_keys, record_failure, resolve_keys
from mdm.store.models import XREF_RECORD, CanonicalRecord, PublishState, SourceRecord, Xref
from mdm.store.staging import StagedRecord, payload_hash, stage_records

if TYPE_CHECKING:
    from connectors.base import Connector
    from mdm.config import Mapping as EntityMapping

log = logging.getLogger(__name__)

PRODUCT_ENTITY = "product"
PRICEBOOK_ENTITY = "pricebook"  # staged Pricebook2 records (source_record, system salesforce)
OPEN_END = dt.date(9999, 12, 31)  # SAP's "valid until further notice"
# Salesforce currency fields keep two decimals: a price with more would come back rounded, and differ.
UNIT_PRICE_STEP = Decimal("0.01")
WRITE_CHUNK = 1000  # records per connector call
CHUNK = 500  # keys per IN list
MAX_ERRORS = 500  # failed records listed in the stats (all are counted)
EXAMPLES = 20
PRICEBOOK_FIELDS = ("Name", "IsActive", "IsStandard", "SyncHub_Id__c")


# --- the valid price: plain data -----------------------------------------------------------------------


class PriceKey(NamedTuple):
    material: str
    sales_org: str
    distribution_channel: str
    currency: str


@dataclass(frozen=True)
class Condition:
    """One usable condition record: a rate for a material in a sales area and currency, for a window."""

    record: str
    material: str
    sales_org: str
    distribution_channel: str
    currency: str
    rate: Decimal
    valid_from: dt.date
    valid_to: dt.date = OPEN_END  # inclusive
    per_quantity: Decimal = Decimal(1)  # the rate is for this many units

    @property
    def key(self) -> PriceKey:
        return PriceKey(self.material, self.sales_org, self.distribution_channel, self.currency)

    @property
    def source(self) -> PriceSource:
        return PriceSource(self.sales_org, self.distribution_channel, self.currency)

    def is_valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to

    @property
    def unit_price(self) -> Decimal:
        """The price of one unit, as Salesforce keeps it (two decimals)."""
        return (self.rate / self.per_quantity).quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


def valid_prices(conditions: Iterable[Condition], day: dt.date) -> dict[PriceKey, Condition]:
    """Per material, sales org, channel and currency, the condition valid on ``day`` (both ends inclusive).

    Where windows overlap, the one that started last wins: in SAP a newer condition record overrides
    an older one for the period it covers. The same start: the higher record number (the newer record).
    A price that starts after ``day`` is not valid yet; an open end (9999-12-31) never expires.
    """
    best: dict[PriceKey, Condition] = {}
    for condition in conditions:
        if not condition.is_valid_on(day):
            continue
        current = best.get(condition.key)
        if current is None or _recency(condition) > _recency(current):
            best[condition.key] = condition
    return best


def _recency(condition: Condition) -> tuple[dt.date, str]:
    return condition.valid_from, condition.record.zfill(10)


def condition_from_values(
    key: str, values: Mapping[str, Any], condition_type: str
) -> tuple[Condition | None, str | None]:
    """A staged condition record's canonical values as a Condition, or (None, why it is not used)."""
    if values.get("condition_type") not in (None, condition_type):
        return None, "other_condition_type"
    if values.get("marked_for_deletion"):
        return None, "marked_for_deletion"
    if values.get("release_status"):
        return None, "not_released"  # blocked, or released for simulation only
    needed = ("material", "sales_org", "distribution_channel", "currency", "unit_price", "valid_from")
    if any(values.get(name) in (None, "") for name in needed):
        return None, "incomplete"
    try:
        rate = Decimal(str(values["unit_price"]))
        per = Decimal(str(values.get("price_quantity") or 1))
        valid_from = dt.date.fromisoformat(str(values["valid_from"]))
        valid_to = dt.date.fromisoformat(str(values["valid_to"])) if values.get("valid_to") else OPEN_END
    except (InvalidOperation, ValueError):
        return None, "incomplete"
    if per <= 0:
        return None, "incomplete"
    condition = Condition(
        record=str(values.get("condition_record") or key),
        material=str(values["material"]),
        sales_org=str(values["sales_org"]),
        distribution_channel=str(values["distribution_channel"]),
        currency=str(values["currency"]),
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        per_quantity=per,
    )
    return condition, None


def entry_id(pricebook: PricebookConfig, product_id: str, currency: str) -> str:
    """SyncHub's id of an entry (its SyncHub_Id__c): ``<pricebook key>:<Product2 Id>:<currency>``, at most 49
    characters (key 24, Id 18, currency 5)."""
    return f"{pricebook.key}:{product_id}:{currency}"


# --- the step ------------------------------------------------------------------------------------------


class PriceSyncError(RuntimeError):
    """A problem that stops the whole sync (e.g. the org has no standard pricebook)."""


def sync_prices(
    *,
    sessions: Sessions | None = None,
    run_id: int | None = None,
    connector: Connector | None = None,
    mapping: EntityMapping | None = None,
    valid_on: dt.date | None = None,
) -> StepStats:
    """Make the configured Salesforce pricebooks hold the SAP prices valid on ``valid_on``; returns the stats.

    Works on what ``extract('price', 'sap', full=True)`` and ``extract('price', 'salesforce')`` staged, and
    on the product cross-reference; writes only differences (see the module docstring). Stats:
    conditions_read, conditions_skipped (by reason), valid_prices, wanted, created, updated, deactivated,
    unchanged, failed, recovered (creates an earlier, interrupted run had done), standard_placeholders,
    pricebooks_created, missing_products (+ missing_product_examples), errors, api_calls, seconds.
    """
    mapping = mapping or load_entity_mapping(ENTITY)
    config = mapping.pricing
    if config is None:
        raise ValueError(f"mapping {mapping.path} has no pricing section")
    day = config.day(valid_on)

    def body(store: Sessions, run: int | None) -> StepStats:
        target = connector or connector_for("salesforce")
        calls_before = target.usage.calls
        clock = time.perf_counter()
        stats = PriceSync(store, mapping, config, target, day, run).run()
        stats["api_calls"] = target.usage.calls - calls_before
        stats["seconds"] = round(time.perf_counter() - clock, 3)
        log.info(
            "sync prices (%s): %d valid prices, %d entries wanted; %d created, %d updated, %d deactivated, "
            "%d unchanged, %d failed; %d materials without a CRM product (%d API calls)",
            day.isoformat(),
            stats["valid_prices"],
            stats["wanted"],
            stats["created"],
            stats["updated"],
            stats["deactivated"],
            stats["unchanged"],
            stats["failed"],
            stats["missing_products"],
            stats["api_calls"],
        )
        return StepStats.of(
            "sync",
            "write",
            ENTITY,
            stats,
            system="salesforce",
            read=stats["conditions_read"],
            written=stats["created"] + stats["updated"] + stats["deactivated"],
            unchanged=stats["unchanged"],
            failed=stats["failed"] + stats["pricebooks_failed"],
            waiting=stats["missing_products"],
        )

    return run_step(sessions, ENTITY, "sync", run_id, body)


EntryKey = tuple[str, str, str | None]  # (Pricebook2Id, Product2Id, currency in a multi-currency org)


@dataclass
class _Entry:
    """A pricebook entry as last staged from Salesforce."""

    id: str
    pricebook_id: str
    product_id: str
    currency: str | None
    unit_price: Decimal | None
    is_active: bool
    use_standard_price: bool
    condition_record: str | None
    synchub_id: str | None
    payload: dict[str, Any]  # the raw record: what the connector compares a write with


@dataclass
class _Want:
    """The entry a pricebook should hold for a product."""

    key: str  # its SyncHub id
    pricebook: PricebookConfig
    pricebook_id: str
    product_id: str
    currency: str
    unit_price: Decimal
    active: bool
    condition: Condition | None  # None: the inactive standard entry a custom price needs


@dataclass
class _Write:
    kind: Literal["create", "update", "deactivate"]
    record: WriteRecord
    pricebook: PricebookConfig
    product_id: str
    currency: str | None  # in a multi-currency org


@dataclass
class _Counts:
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # For the error queue: every failure (operation, key, code, message, fields sent), and the keys
    # written or found already right.
    failures: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)

    def fail(self, write: _Write, code: str, message: str) -> None:
        self.counts["failed"] += 1
        self.failures.append((write.kind, write.record.key, code, message, dict(write.record.fields)))
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {
                    "key": write.record.key,
                    "remote_key": write.record.remote_key,
                    "pricebook": write.pricebook.key,
                    "code": code,
                    "message": message,
                }
            )


class PriceSync:
    """One run of the price sync (see the module docstring)."""

    def __init__(
        self,
        sessions: Sessions,
        mapping: EntityMapping,
        config: PricingConfig,
        connector: Connector,
        day: dt.date,
        run_id: int | None = None,
    ) -> None:
        self.sessions = sessions
        self.mapping = mapping
        self.config = config
        self.connector = connector
        self.day = day
        self.run_id = run_id
        self.external_id = mapping.source.salesforce.external_id or "SyncHub_Id__c"
        self.pricebook_source: EntitySource = replace(
            mapping.source,
            entity=PRICEBOOK_ENTITY,
            salesforce=SalesforceSource(
                object="Pricebook2",
                fields=tuple(f for f in PRICEBOOK_FIELDS if f != "SyncHub_Id__c"),
                external_id=self.external_id,
                writable=("Name", "IsActive", self.external_id),
            ),
        )
        self.result = _Counts()

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
            product_id = _primary_copy(live, last_written.get(golden_id))
            for material in materials[golden_id]:
                by_material[material] = product_id
        return by_material, sap_priced

    def _entries(self, pricebook_ids: set[str]) -> dict[EntryKey, _Entry]:
        """The staged live entries of the configured pricebooks."""
        entries: dict[EntryKey, _Entry] = {}
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
                entries[(pricebook_id, product_id, currency)] = _Entry(
                    id=key,
                    pricebook_id=pricebook_id,
                    product_id=product_id,
                    currency=currency,
                    unit_price=_decimal(values.get("unit_price")),
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

    def _wanted(
        self,
        prices: Mapping[PriceKey, Condition],
        by_material: Mapping[str, str],
        ids: Mapping[str, str],
        existing: Mapping[EntryKey, _Entry],
    ) -> tuple[dict[EntryKey, _Want], set[str]]:
        """The wanted entries (standard pricebook first) and the materials no CRM product has."""
        by_source: dict[PriceSource, list[Condition]] = defaultdict(list)
        for condition in prices.values():
            by_source[condition.source].append(condition)
        wanted: dict[EntryKey, _Want] = {}
        missing: set[str] = set()
        for book in self.config.all_pricebooks:
            pricebook_id = ids.get(book.key)
            if pricebook_id is None:
                continue
            for source in book.sources:
                for condition in sorted(by_source.get(source, []), key=lambda c: c.material):
                    product_id = by_material.get(condition.material)
                    if product_id is None:
                        missing.add(condition.material)
                        continue
                    key = self._entry_key(pricebook_id, product_id, source.currency)
                    # Two materials of one golden product: the first (by material) gives the price.
                    wanted.setdefault(
                        key,
                        _Want(
                            entry_id(book, product_id, source.currency),
                            book,
                            pricebook_id,
                            product_id,
                            source.currency,
                            condition.unit_price,
                            True,
                            condition,
                        ),
                    )
        # Salesforce takes a custom price only for a product with a standard price (in its currency).
        standard = self.config.standard
        standard_id = ids[STANDARD_KEY]
        fallback_currency = standard.sources[0].currency
        for want in [w for w in wanted.values() if not w.pricebook.standard]:
            currency = want.currency if self.config.currency_field else fallback_currency
            key = self._entry_key(standard_id, want.product_id, currency)
            if key in wanted or key in existing:
                continue
            wanted[key] = _Want(
                entry_id(standard, want.product_id, currency),
                standard,
                standard_id,
                want.product_id,
                currency,
                Decimal(0),
                False,
                None,
            )
            self.result.counts["standard_placeholders"] += 1
        return wanted, missing

    def _plan(
        self,
        wanted: Mapping[EntryKey, _Want],
        existing: Mapping[EntryKey, _Entry],
        sap_priced: set[str],
        books: Mapping[str, PricebookConfig],
    ) -> list[_Write]:
        """Creates, updates and deactivations: only where Salesforce differs from what is wanted."""
        writes: list[_Write] = []
        multi = self.config.currency_field
        for key, want in wanted.items():
            have = existing.get(key)
            currency = want.currency if multi else None
            if have is None:
                fields: dict[str, Any] = {
                    "Pricebook2Id": want.pricebook_id,
                    "Product2Id": want.product_id,
                    "UnitPrice": want.unit_price,
                    "IsActive": want.active,
                    "UseStandardPrice": False,
                    self.external_id: want.key,
                }
                if want.condition is not None:
                    fields["SAP_Condition_Record__c"] = want.condition.record
                if multi:
                    fields[multi] = want.currency
                record = WriteRecord(want.key, fields)
                writes.append(_Write("create", record, want.pricebook, want.product_id, currency))
                continue
            changes: dict[str, Any] = {}
            if have.unit_price != want.unit_price:
                changes["UnitPrice"] = want.unit_price
            if have.is_active != want.active:
                changes["IsActive"] = want.active
            if have.use_standard_price and not want.pricebook.standard:
                changes["UseStandardPrice"] = False
            if want.condition is not None and have.condition_record != want.condition.record:
                changes["SAP_Condition_Record__c"] = want.condition.record
            if have.synchub_id != want.key:
                changes[self.external_id] = want.key
            if not changes:
                self.result.counts["unchanged"] += 1
                self.result.settled.add(want.key)
                continue
            record = WriteRecord(want.key, changes, remote_key=have.id, expected=have.payload)
            writes.append(_Write("update", record, want.pricebook, want.product_id, currency))
        for key, have in existing.items():
            if key in wanted or not (have.product_id in sap_priced or have.synchub_id):
                continue  # wanted, or a CRM-only product's price: not SyncHub's
            if not have.is_active:
                self.result.counts["unchanged"] += 1
                self.result.settled.add(have.synchub_id or have.id)
                continue
            record = WriteRecord(
                have.synchub_id or have.id, {"IsActive": False}, remote_key=have.id, expected=have.payload
            )
            writes.append(_Write("deactivate", record, books[have.pricebook_id], have.product_id, key[2]))
        return writes

    # -- writing --------------------------------------------------------------------------------------
    def _recover_creates(self, writes: Sequence[_Write]) -> None:
        """Creates an interrupted earlier run already made (found by SyncHub id) become updates."""
        creates = [w for w in writes if w.kind == "create"]
        if not creates:
            return
        found = self.connector.keys_for_external_ids(self.mapping.source, [w.record.key for w in creates])
        for write in creates:
            remote = found.get(write.record.key)
            if remote is not None:
                # Known records are updated without their create-only fields (Pricebook2Id, Product2Id).
                write.record = replace(write.record, remote_key=remote)
                write.kind = "update"
                self.result.counts["recovered"] += 1
        if found:
            log.warning("sync prices: %d entries to create were already there (an earlier run)", len(found))

    def _write(self, writes: Sequence[_Write]) -> list[tuple[_Write, WriteOutcome]]:
        """The entries sent (the error queue is settled once at the end, ``_error_queue``: the sync diffs
        every wanted entry, so what it no longer wants leaves the queue too)."""
        report = apply_writes(
            self.connector,
            self.mapping.source,
            [Write(w.record.key, w.record, w.kind, item=w) for w in writes],
            system="salesforce",
            chunk_size=WRITE_CHUNK,
        )
        done = [(write.item, outcome) for write, outcome in report.done]
        for write, outcome in done:
            self._count(write, outcome)
        return done

    def _count(self, write: _Write, outcome: WriteOutcome) -> None:
        if outcome.status == "failed":
            self.result.fail(write, outcome.error_code or "UNKNOWN", outcome.error_message or "")
            return
        self.result.settled.add(write.record.key)
        if outcome.status == "unchanged":
            self.result.counts["unchanged"] += 1
        elif write.kind == "create" and outcome.status == "created":
            self.result.counts["created"] += 1
        elif write.kind == "create":
            self.result.counts["recovered"] += 1  # the upsert found it: an earlier run made it
        elif write.kind == "deactivate":
            self.result.counts["deactivated"] += 1
        else:
            self.result.counts["updated"] += 1

    def run(self) -> dict[str, Any]:
        prices, skipped, read, held_materials = self._conditions()
        by_material, sap_priced = self._products()
        ids = self._pricebooks()
        books = {ids[b.key]: b for b in self.config.all_pricebooks if b.key in ids}
        existing = self._entries(set(books))
        wanted, missing = self._wanted(prices, by_material, ids, existing)
        writes = self._plan(wanted, existing, sap_priced, books)
        held = {by_material[m] for m in held_materials if m in by_material}
        if held:
            self.result.counts["held"] = sum(1 for w in writes if w.product_id in held)
            writes = [w for w in writes if w.product_id not in held]
            log.warning(
                "sync prices: %d products have a quarantined condition record; their entries are left as "
                "they are until it passes the quality gate",
                len(held),
            )
        self._recover_creates(writes)
        log.info(
            "sync prices (%s): %d conditions read, %d valid prices, %d entries staged, %d wanted, %d writes",
            self.day.isoformat(),
            read,
            len(prices),
            len(existing),
            len(wanted),
            len(writes),
        )
        # Standard entries first: a custom price needs the product's standard price to exist.
        standard = [w for w in writes if w.pricebook.standard]
        custom = [w for w in writes if not w.pricebook.standard]
        have_standard = {
            (e.product_id, e.currency) for e in existing.values() if e.pricebook_id == ids[STANDARD_KEY]
        }
        for write, outcome in self._write(standard):
            if write.kind == "create" and outcome.status != "failed":
                have_standard.add((write.product_id, write.currency))
        ready = []
        for write in custom:
            if write.kind == "create" and (write.product_id, write.currency) not in have_standard:
                self.result.fail(
                    write,
                    "STANDARD_PRICE_NOT_DEFINED",
                    "not sent: the product's standard pricebook entry could not be written",
                )
                continue
            ready.append(write)
        self._write(ready)
        self._error_queue()
        counts = self.result.counts
        examples = sorted(missing)[:EXAMPLES]
        if missing:
            log.warning(
                "sync prices: %d materials with a valid price have no product in the CRM yet (e.g. %s); "
                "they are tried again next run",
                len(missing),
                ", ".join(examples[:5]),
            )
        return {
            "entity": ENTITY,
            "valid_on": self.day.isoformat(),
            "condition_type": self.config.condition_type,
            "conditions_read": read,
            "conditions_skipped": dict(sorted(skipped.items())),
            "valid_prices": len(prices),
            "wanted": len(wanted),
            **{k: counts[k] for k in ("created", "updated", "deactivated", "unchanged", "failed")},
            "recovered": counts["recovered"],
            "held_quarantined": counts["held"],
            "standard_placeholders": counts["standard_placeholders"],
            "pricebooks_created": counts["pricebooks_created"],
            "pricebooks_updated": counts["pricebooks_updated"],
            "pricebooks_failed": counts["pricebooks_failed"],
            "missing_products": len(missing),
            "missing_product_examples": examples,
            "errors": self.result.errors,
        }

    def _error_queue(self) -> None:
        """Failures into the error queue; entries written (or found right) out of it. The sync diffs every
        wanted entry, so when every pricebook could be written an open entry it neither wrote nor failed is
        no longer wanted (its product or price is gone): resolved too."""
        failed = {key for _, key, _, _, _ in self.result.failures}
        complete = not any(operation == "pricebook" for operation, _, _, _, _ in self.result.failures)
        with self.sessions.begin() as session:
            if complete:
                self.result.settled |= open_keys(session, entity=ENTITY, system="salesforce")
            for operation, key, code, message, fields in self.result.failures:
                record_failure(
                    session,
                    entity=ENTITY,
                    system="salesforce",
                    operation=operation,
                    record_key=key,
                    code=code,
                    message=message,
                    payload=fields,
                    run_id=self.run_id,
                )
            resolve_keys(
                session, entity=ENTITY, system="salesforce", record_keys=self.result.settled - failed
            )


def _primary_copy(copies: Sequence[tuple[str, bool, bool]], last_written: str | None) -> str:
    """Of (Product2 Id, carries the golden id, SyncHub created it) copies, the one publishing keeps active."""
    for product_id, carries, _ in copies:
        if carries:
            return product_id
    if last_written in {product_id for product_id, _, _ in copies}:
        return str(last_written)
    ours = sorted(product_id for product_id, _, by_us in copies if by_us)
    return ours[0] if ours else min(product_id for product_id, _, _ in copies)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
