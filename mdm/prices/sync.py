"""The price step (``sync_prices``): the entries wanted from the valid prices, diffed with what the CRM
holds, written through the write engine, the error queue settled."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connectors.base import EntitySource, SalesforceSource, WriteOutcome, WriteRecord
from mdm.config import mapping_with
from mdm.config.pricing import (
    ENTITY,
    STANDARD_KEY,
    PricebookConfig,
    PriceSource,
    PricingConfig,
)
from mdm.prices.conditions import Condition, PriceKey, entry_id
from mdm.prices.model import (
    EXAMPLES,
    PRICEBOOK_ENTITY,
    PRICEBOOK_FIELDS,
    WRITE_CHUNK,
    Counts,
    Entry,
    EntryKey,
    PriceWrite,
    Want,
    log,
)
from mdm.prices.reads import StoreReads
from mdm.runtime import Sessions, connector_for, run_step
from mdm.stats import StepStats
from mdm.steps.write import Write, apply_writes
from mdm.store.deadletter import open_keys, record_failure, resolve_keys

if TYPE_CHECKING:
    from connectors.base import Connector
    from mdm.config import Mapping as EntityMapping


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
    mapping = mapping_with(ENTITY, mapping, "pricing")
    config = mapping.pricing
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


class PriceSync(StoreReads):
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
        self.result = Counts()

    def _wanted(
        self,
        prices: Mapping[PriceKey, Condition],
        by_material: Mapping[str, str],
        ids: Mapping[str, str],
        existing: Mapping[EntryKey, Entry],
    ) -> tuple[dict[EntryKey, Want], set[str]]:
        """The wanted entries (standard pricebook first) and the materials no CRM product has."""
        by_source: dict[PriceSource, list[Condition]] = defaultdict(list)
        for condition in prices.values():
            by_source[condition.source].append(condition)
        wanted: dict[EntryKey, Want] = {}
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
                        Want(
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
            wanted[key] = Want(
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
        wanted: Mapping[EntryKey, Want],
        existing: Mapping[EntryKey, Entry],
        sap_priced: set[str],
        books: Mapping[str, PricebookConfig],
    ) -> list[PriceWrite]:
        """Creates, updates and deactivations: only where Salesforce differs from what is wanted."""
        writes: list[PriceWrite] = []
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
                writes.append(PriceWrite("create", record, want.pricebook, want.product_id, currency))
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
            writes.append(PriceWrite("update", record, want.pricebook, want.product_id, currency))
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
            writes.append(PriceWrite("deactivate", record, books[have.pricebook_id], have.product_id, key[2]))
        return writes

    # -- writing --------------------------------------------------------------------------------------
    def _recover_creates(self, writes: Sequence[PriceWrite]) -> None:
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

    def _write(self, writes: Sequence[PriceWrite]) -> list[tuple[PriceWrite, WriteOutcome]]:
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

    def _count(self, write: PriceWrite, outcome: WriteOutcome) -> None:
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
