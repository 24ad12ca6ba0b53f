"""``check``: auth and reachability, metadata, mapped fields, and SAP settings in use (``any_match``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import (
    CheckResult,
    EntitySource,
)
from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
)
from connectors.sap.session import Gateway
from connectors.sap.settings import SYSTEM
from connectors.sap.values import has_property
from connectors.sap.write import resolve_path


class Checks:
    """What ``synchub connections test`` asks of SAP."""

    def check(self, entities: Sequence[EntitySource]) -> list[CheckResult]:
        """Auth and reachability, ``$metadata`` per service, and that mapped fields exist and are writable."""
        results: list[CheckResult] = []
        services: dict[str, Gateway | None] = {}
        for name in dict.fromkeys(e.sap.service for e in entities):
            try:
                services[name] = self._service(name)
                results.append(
                    CheckResult(SYSTEM, f"metadata:{name}", True, f"{self.service_url(name)}$metadata")
                )
            except AuthError as exc:
                services[name] = None
                results.append(CheckResult(SYSTEM, f"metadata:{name}", False, str(exc)))
            except ConnectorError as exc:
                services[name] = None
                results.append(CheckResult(SYSTEM, f"metadata:{name}", False, str(exc)))
        reached = [s for s in services.values() if s is not None]
        auth_detail = f"user {self.user} on {self.base_url}"
        results.insert(
            0,
            CheckResult(
                SYSTEM,
                "auth",
                bool(reached),
                auth_detail
                if reached
                else next((r.detail for r in results if not r.ok), "no service reached"),
            ),
        )
        for entity in entities:
            service = services.get(entity.sap.service)
            if service is None:
                results.append(CheckResult(SYSTEM, f"fields:{entity.entity}", False, "service not reachable"))
                continue
            problems = self._field_problems(service, entity)
            results.append(
                CheckResult(
                    SYSTEM,
                    f"fields:{entity.entity}",
                    not problems,
                    "; ".join(problems)
                    or f"{entity.sap.entity_set}: keys, stamps, expands and "
                    f"{len(entity.sap.writable)} writable fields resolve",
                )
            )
            if not problems:
                results.append(self._read_check(service, entity))
        return results

    def _field_problems(self, service: Gateway, entity: EntitySource) -> list[str]:
        source = entity.sap
        try:
            entity_set = service.entity_set(source.entity_set, entity.entity)
        except ConfigError as exc:
            return [exc.message]
        entity_type = entity_set.entity_type
        problems = [
            f"{source.entity_set} has no property {name}"
            for name in (*source.keys, *source.stamp_fields)
            if not has_property(entity_type, name)
        ]
        for path in source.expand:
            try:
                resolve_path(service, entity_set, path.split("/"), last_is_property=False)
            except KeyError as exc:
                problems.append(f"expand {path}: {exc.args[0]}")
        for path in source.writable:
            try:
                prop = resolve_path(service, entity_set, path.split("/"), last_is_property=True)
            except KeyError as exc:
                problems.append(f"writable {path}: {exc.args[0]}")
                continue
            if not (prop.creatable or prop.updatable):
                problems.append(f"writable {path}: SAP marks it neither creatable nor updatable")
        return problems

    def any_match(self, service_name: str, entity_set_name: str, query_filter: str) -> bool:
        """Whether any entity of the set matches the ``$filter`` (one ``$top=1`` read of its keys)."""
        service = self._service(service_name)
        entity_set = service.entity_set(entity_set_name)
        proxy = getattr(service.client.entity_sets, entity_set.name)
        keys = ",".join(p.name for p in entity_set.entity_type.key_proprties)

        def fetch() -> Any:
            return proxy.get_entities().select(keys).filter(query_filter).top(1).execute()

        return bool(list(self._call("read", fetch, service=service, entity=entity_set.name)))

    def _read_check(self, service: Gateway, entity: EntitySource) -> CheckResult:
        """One ``$top=1`` read with the mapping's filter: authorisation to read, and a filter SAP accepts."""
        source = entity.sap
        proxy = getattr(service.client.entity_sets, source.entity_set)

        def fetch() -> Any:
            query = proxy.get_entities().select(",".join(source.keys)).top(1)
            return (query.filter(source.filter) if source.filter else query).execute()

        try:
            self._call("read", fetch, service=service, entity=source.entity_set)
        except ConnectorError as exc:
            return CheckResult(SYSTEM, f"read:{entity.entity}", False, str(exc))
        return CheckResult(SYSTEM, f"read:{entity.entity}", True, f"{source.entity_set} readable")
