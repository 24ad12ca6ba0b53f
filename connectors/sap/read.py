"""Reads: the delta filter, paged extraction, the live key set and reads by key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from pyodata.exceptions import PyODataException
from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    EntityProxy,
)

from connectors.base import (
    EntitySource,
    ExtractedRecord,
    Page,
    SapSource,
)
from connectors.sap.session import Gateway, and_filters
from connectors.sap.settings import KEY_CHUNK, SYSTEM, log
from connectors.sap.values import as_plain, expand_tree, keys_filter, parsed_property, record_of, to_utc


class Reads:
    """Extraction through pyodata: server pages followed, client windows by key, one Page per page."""

    def delta_filter(self, source: SapSource, since: dt.datetime | None) -> str | None:
        """The ``$filter`` for records changed at or after ``since`` minus the look-back (None: all)."""
        if since is None or source.stamp == "none":
            return None
        start = to_utc(since) - self.settings.look_back
        if source.stamp == "datetime":
            text = start.strftime("%Y-%m-%dT%H:%M:%S")
            if start.microsecond:
                text += f".{start.microsecond:06d}"
            return f"LastChangeDateTime ge datetimeoffset'{text}Z'"
        local = start.astimezone(ZoneInfo(self.settings.stamp_timezone))
        day = f"datetime'{local.strftime('%Y-%m-%d')}T00:00:00'"
        at = f"time'PT{local.hour:02d}H{local.minute:02d}M{local.second:02d}S'"
        return f"LastChangeDate gt {day} or (LastChangeDate eq {day} and LastChangeTime ge {at})"

    def extract_changed(self, entity: EntitySource, since: dt.datetime | None) -> Iterator[Page]:
        """Pages of records changed at or after ``since`` (minus the look-back); all records when None."""
        source = entity.sap
        delta = self.delta_filter(source, since)
        query_filter = and_filters(source.filter, delta)
        log.info(
            "sap extract %s (%s): %s",
            entity.entity,
            source.entity_set,
            f"changed since {since.isoformat()}" if delta and since else "full read",
        )
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        tree = expand_tree(source.expand)
        total = 0
        for number, result in enumerate(
            self._read(service, entity, query_filter, expand=source.expand, select=None), start=1
        ):
            records = [self._record(entity_set, source, proxy, tree) for proxy in result]
            stamps = [r.stamp for r in records if r.stamp is not None]
            total += len(records)
            log.info(
                "sap extract %s: page %d, %d records (%d so far, %d calls)",
                entity.entity,
                number,
                len(records),
                total,
                self.usage.calls,
            )
            yield Page(SYSTEM, entity.entity, records, max(stamps) if stamps else None)

    def extract_all_keys(self, entity: EntitySource) -> Iterator[list[str]]:
        """Pages of the keys of every live record (fixed filter applied), for reconciliation and deletes."""
        source = entity.sap
        service = self._service(source.service, entity.entity)
        for result in self._read(service, entity, source.filter, expand=(), select=source.keys):
            yield ["|".join(str(parsed_property(p, k)) for k in source.keys) for p in result]

    def read_keys(self, entity: EntitySource, keys: Sequence[str]) -> list[ExtractedRecord]:
        """The records with these keys (fixed filter applied), with the mapping's expands, as
        ``extract_changed`` gives them: e.g. partners SyncHub just created, with the customer number
        SAP gave them."""
        source = entity.sap
        service = self._service(source.service, entity.entity)
        entity_set = service.entity_set(source.entity_set, entity.entity)
        tree = expand_tree(source.expand)
        out: list[ExtractedRecord] = []
        wanted = sorted({str(k) for k in keys if k})
        for start in range(0, len(wanted), KEY_CHUNK):
            by_key = keys_filter(entity_set.entity_type, wanted[start : start + KEY_CHUNK])
            expr = and_filters(source.filter, by_key)
            assert expr is not None
            expand = ",".join(source.expand) or None
            for proxy in self._query_all(service, entity_set, expr, expand=expand):
                out.append(self._record(entity_set, source, proxy, tree))
        return out

    def _read(
        self,
        service: Gateway,
        entity: EntitySource,
        query_filter: str | None,
        *,
        expand: Sequence[str],
        select: Sequence[str] | None,
    ) -> Iterator[list[EntityProxy]]:
        """Every server page of a query, following ``__next`` (and ``$top``/``$skip`` windows if set)."""
        source = entity.sap
        entity_set = service.entity_set(source.entity_set, entity.entity)
        proxy = getattr(service.client.entity_sets, entity_set.name)
        page_size = self.settings.page_size
        offset = 0
        while True:

            def first(skip: int = offset) -> Any:
                query = proxy.get_entities()
                if query_filter:
                    query = query.filter(query_filter)
                if expand:
                    query = query.expand(",".join(expand))
                if select:
                    query = query.select(",".join(select))
                if self.settings.inline_count and skip == 0:
                    query = query.count(inline=True)
                if page_size:
                    # Client windows need a stable order; the key is the natural one.
                    query = query.order_by(",".join(source.keys)).top(page_size).skip(skip)
                return query.execute()

            result = self._call("read", first, service=service, entity=entity_set.name)
            if self.settings.inline_count and offset == 0:
                try:
                    log.info("sap %s: %d records match", entity.entity, result.total_count)
                except PyODataException:
                    pass
            in_window = len(result)
            yield list(result)
            for page in self._next_pages(service, entity_set, proxy, result, "read_next"):
                in_window += len(page)
                yield list(page)
            if not page_size or in_window < page_size:
                return
            offset += page_size

    def _record(
        self, entity_set: odata_model.EntitySet, source: SapSource, proxy: EntityProxy, tree: dict[str, dict]
    ) -> ExtractedRecord:
        return record_of(source, as_plain(entity_set.entity_type, proxy, tree), self.settings.stamp_timezone)

    def _query_all(
        self,
        service: Gateway,
        entity_set: odata_model.EntitySet,
        expr: str,
        *,
        select: str | None = None,
        expand: str | None = None,
    ) -> list[EntityProxy]:
        """Every entity matching ``expr`` (following ``__next``), for the connector's own lookups."""
        proxy = getattr(service.client.entity_sets, entity_set.name)

        def first() -> Any:
            query = proxy.get_entities().filter(expr)
            if select:
                query = query.select(select)
            if expand:
                query = query.expand(expand)
            return query.execute()

        result = self._call("get", first, service=service, entity=entity_set.name)
        found = list(result)
        for page in self._next_pages(service, entity_set, proxy, result, "get"):
            found += list(page)
        return found

    def _next_pages(
        self, service: Gateway, entity_set: odata_model.EntitySet, proxy: Any, result: Any, operation: str
    ) -> Iterator[Any]:
        """The pages SAP's ``__next`` links lead to after ``result`` (a relative link is resolved)."""
        while result.next_url:
            url = urljoin(service.url, result.next_url)  # SAP may send a relative __next
            result = self._call(
                operation,
                lambda url=url: proxy.get_entities().next_url(url).execute(),
                service=service,
                entity=entity_set.name,
            )
            yield result
