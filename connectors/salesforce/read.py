"""Reads: SOQL extraction of what changed (REST or a Bulk API 2.0 query job), children, keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any

from connectors.base import (
    EntitySource,
    ExtractedRecord,
    Page,
    SalesforceChild,
    SalesforceSource,
)
from connectors.errors import (
    ConfigError,
)
from connectors.salesforce.settings import SYSTEM, log
from connectors.salesforce.soql import deduped, field_value, parse_stamp, soql_literal, soql_name
from connectors.salesforce.values import typed_rows


class Reads:
    """Extraction through ``queryAll`` or Bulk API 2.0: one page per API page, children attached."""

    # -- extraction -------------------------------------------------------------------------------
    def _select(self, src: SalesforceSource) -> tuple[list[str], list[str]]:
        """(fields to SELECT, fields that make up the payload)."""
        payload = deduped([src.key, *src.fields, *([src.external_id] if src.external_id else [])])
        select = deduped([*payload, src.stamp, "IsDeleted"])
        return [soql_name(f) for f in select], payload

    def _where(self, src: SalesforceSource, since: dt.datetime | None) -> str:
        clauses = []
        if src.where:
            clauses.append(f"({src.where})")
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=dt.UTC)
            bound = since - dt.timedelta(seconds=self.settings.lookback_seconds)
            clauses.append(f"{soql_name(src.stamp)} >= {soql_literal(bound)}")
        return f" WHERE {' AND '.join(clauses)}" if clauses else ""

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        """Pages of records changed at or after ``since`` - look-back (all when None), deletes included.

        Parents whose children alone changed come first, in pages without a ``max_stamp`` (their
        own stamps may be older than the watermark, so they must not move it).
        """
        src = entity.salesforce
        select, payload_fields = self._select(src)
        obj = soql_name(src.object)
        where = self._where(src, since)
        emitted: set[str] = set()
        pages = records = 0
        if since is not None and src.children:
            for page in self._parents_of_changed_children(entity, since, select, payload_fields):
                emitted.update(r.key for r in page.records)
                pages, records = pages + 1, records + len(page.records)
                yield page
        soql = f"SELECT {', '.join(select)} FROM {obj}{where}"
        use_bulk = (
            self._count(f"FROM {obj}{where}", include_deleted=True, entity=obj)
            > self.settings.bulk_query_threshold
        )
        # Bulk API 2.0 does not support ORDER BY (and it would disable PK chunking: "Understanding Bulk
        # API 2.0 Query", SOQL considerations): its pages come in no stamp order, so they are marked
        # unordered and the watermark moves only once all of them are stored. REST pages are ordered.
        rows = (
            self._bulk_rows(obj, soql, select, include_deleted=True)
            if use_bulk
            else self._query(
                f"{soql} ORDER BY {soql_name(src.stamp)}, Id",
                include_deleted=True,
                operation="query",
                entity=obj,
            )
        )
        for batch in rows:
            page = self._page(entity, batch, select, payload_fields, skip=emitted, ordered=not use_bulk)
            if use_bulk:  # a record met twice (chunks of a changing table) is given once
                emitted.update(r.key for r in page.records)
            pages, records = pages + 1, records + len(page.records)
            log.info(
                "salesforce extract %s: page %d, %d records (%d so far) via %s; %d API calls",
                obj,
                pages,
                len(page.records),
                records,
                "bulk" if use_bulk else "REST",
                self.usage.calls,
            )
            yield page

    def _page(
        self,
        entity: EntitySource,
        rows: list[dict[str, Any]],
        select: list[str],
        payload_fields: list[str],
        *,
        skip: Collection[str] = (),
        move_watermark: bool = True,
        ordered: bool = False,
    ) -> Page:
        src = entity.salesforce
        out: list[ExtractedRecord] = []
        max_stamp: dt.datetime | None = None
        for row in rows:
            stamp = parse_stamp(field_value(row, src.stamp))
            if stamp is not None and (max_stamp is None or stamp > max_stamp):
                max_stamp = stamp
            key = str(field_value(row, src.key))
            if key in skip:
                continue
            out.append(
                ExtractedRecord(
                    key=key,
                    payload={name: field_value(row, name) for name in payload_fields},
                    stamp=stamp,
                    is_deleted=bool(field_value(row, "IsDeleted")),
                )
            )
        for child in src.children:
            self._attach_children(child, out)
        return Page(SYSTEM, entity.entity, out, max_stamp if move_watermark else None, ordered=ordered)

    def _child_select(self, child: SalesforceChild) -> list[str]:
        names = ["Id", child.parent_field, *child.fields, *([child.external_id] if child.external_id else [])]
        return [soql_name(n) for n in deduped(names)]

    def _attach_children(self, child: SalesforceChild, parents: list[ExtractedRecord]) -> None:
        """Read the live children of a page of parents (chunked ``IN`` lists) into ``relationship``."""
        live = [p for p in parents if not p.is_deleted]
        for parent in parents:
            parent.payload[child.relationship] = []
        by_key = {p.key: p for p in live}
        select = self._child_select(child)
        size = self.settings.child_chunk_size
        keys = list(by_key)
        for start in range(0, len(keys), size):
            ids = ", ".join(soql_literal(k) for k in keys[start : start + size])
            soql = (
                f"SELECT {', '.join(select)} FROM {soql_name(child.object)} "
                f"WHERE {soql_name(child.parent_field)} IN ({ids}) ORDER BY Id"
            )
            for rows in self._query(soql, include_deleted=False, operation="query", entity=child.object):
                for row in rows:
                    parent = by_key.get(str(field_value(row, child.parent_field)))
                    if parent is not None:
                        parent.payload[child.relationship].append({n: field_value(row, n) for n in select})

    def _parents_of_changed_children(
        self, entity: EntitySource, since: dt.datetime, select: list[str], payload_fields: list[str]
    ) -> Iterator[Page]:
        src = entity.salesforce
        parent_ids: set[str] = set()
        for child in src.children:
            # Children carry their own SystemModstamp; deleted children count as changes too.
            child_src = replace(src, object=child.object, stamp="SystemModstamp", where=None)
            soql = (
                f"SELECT {soql_name(child.parent_field)} FROM {soql_name(child.object)}"
                f"{self._where(child_src, since)}"
            )
            for rows in self._query(soql, include_deleted=True, operation="query", entity=child.object):
                parent_ids.update(str(v) for r in rows if (v := field_value(r, child.parent_field)))
        ids = sorted(parent_ids)
        size = self.settings.child_chunk_size
        for start in range(0, len(ids), size):
            keys = ", ".join(soql_literal(k) for k in ids[start : start + size])
            where = f" WHERE ({src.where}) AND Id IN ({keys})" if src.where else f" WHERE Id IN ({keys})"
            soql = f"SELECT {', '.join(select)} FROM {soql_name(src.object)}{where} ORDER BY Id"
            for rows in self._query(soql, include_deleted=True, operation="query", entity=src.object):
                yield self._page(entity, rows, select, payload_fields, move_watermark=False)

    def _bulk_rows(
        self, obj: str, soql: str, select: list[str], *, include_deleted: bool
    ) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job, page by page, typed back to REST values through describe."""
        types = {name: self._field_type(obj, name) for name in select}
        handler = getattr(self._client().bulk2, obj)
        run = handler.query_all if include_deleted else handler.query
        pages = run(soql, max_records=self.settings.bulk_page_size, wait=self.settings.bulk_poll_seconds)
        while True:
            with self._calling("bulk_query", obj):
                try:
                    text = next(pages)
                except StopIteration:
                    return
            yield typed_rows(str(text), select, types)

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        """Pages of the Ids of every live record, for full reconciliation and delete detection."""
        src = entity.salesforce
        obj = soql_name(src.object)
        where = f" WHERE ({src.where})" if src.where else ""
        key = soql_name(src.key)
        soql = f"SELECT {key} FROM {obj}{where}"
        if (
            self._count(f"FROM {obj}{where}", include_deleted=False, entity=obj)
            > self.settings.bulk_query_threshold
        ):
            rows = self._bulk_rows(obj, soql, [key], include_deleted=False)
        else:
            rows = self._query(soql, include_deleted=False, operation="query", entity=obj)
        for batch in rows:
            yield [str(field_value(r, key)) for r in batch]

    def read_keys(self, entity: EntitySource, keys: Sequence[str]) -> list[ExtractedRecord]:
        """The live records with these Ids, with their children, as ``extract_changed`` gives them."""
        src = entity.salesforce
        select, payload_fields = self._select(src)
        wanted = deduped(str(k) for k in keys)
        out: list[ExtractedRecord] = []
        size = self.settings.child_chunk_size
        for start in range(0, len(wanted), size):
            literals = ", ".join(soql_literal(k) for k in wanted[start : start + size])
            where = f" AND ({src.where})" if src.where else ""
            soql = (
                f"SELECT {', '.join(select)} FROM {soql_name(src.object)} "
                f"WHERE {soql_name(src.key)} IN ({literals}){where}"
            )
            for rows in self._query(soql, include_deleted=False, operation="query", entity=src.object):
                out += self._page(entity, rows, select, payload_fields).records
        return out

    def keys_for_external_ids(self, entity: EntitySource, external_ids: Sequence[str]) -> dict[str, str]:
        """Live records' Ids by external id (as stored), e.g. to fill the cross-reference."""
        src = entity.salesforce
        if not src.external_id:
            raise ConfigError(
                "the mapping names no external id", system=SYSTEM, operation="lookup", entity=src.object
            )
        ext = soql_name(src.external_id)
        found: dict[str, str] = {}
        values = deduped(str(v) for v in external_ids)
        size = self.settings.child_chunk_size
        for start in range(0, len(values), size):
            literals = ", ".join(soql_literal(v) for v in values[start : start + size])
            soql = f"SELECT Id, {ext} FROM {soql_name(src.object)} WHERE {ext} IN ({literals})"
            for rows in self._query(soql, include_deleted=False, operation="query", entity=src.object):
                found.update({str(field_value(r, ext)): str(field_value(r, "Id")) for r in rows})
        return found
