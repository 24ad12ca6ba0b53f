"""``check``: auth and reachability, and that the mapped objects and fields exist and are writable."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import (
    CheckResult,
    EntitySource,
)
from connectors.errors import (
    ConnectorError,
)
from connectors.salesforce.settings import SETUP_KIT, SYSTEM
from connectors.salesforce.soql import deduped


class Checks:
    """What ``synchub connections test`` asks of the org."""

    # -- checks -----------------------------------------------------------------------------------
    def check(self, entities: Sequence[EntitySource]) -> list[CheckResult]:
        """Auth, reachability (limits), metadata (describe) and the mapped fields, one verdict each."""
        results: list[CheckResult] = []
        try:
            sf = self._client()
        except ConnectorError as exc:
            return [CheckResult(SYSTEM, "auth", False, str(exc))]
        results.append(
            CheckResult(SYSTEM, "auth", True, f"logged in to {sf.sf_instance} (API v{sf.sf_version})")
        )
        try:
            with self._calling("limits"):
                limits = sf.limits()
            daily = dict(limits.get("DailyApiRequests") or {})
            results.append(
                CheckResult(
                    SYSTEM,
                    "reachability",
                    True,
                    f"daily API requests: {daily.get('Remaining', '?'):,} of {daily.get('Max', '?'):,} left"
                    if isinstance(daily.get("Max"), int)
                    else "limits answered",
                )
            )
        except ConnectorError as exc:
            results.append(CheckResult(SYSTEM, "reachability", False, str(exc)))
            return results
        for entity in entities:
            results.extend(self._check_entity(entity))
        return results

    def _check_entity(self, entity: EntitySource) -> list[CheckResult]:
        src = entity.salesforce
        objects = [src.object, *(c.object for c in src.children)]
        missing_objects = []
        for obj in objects:
            try:
                self.describe(obj)
            except ConnectorError as exc:
                missing_objects.append(f"{obj}: {exc.message}")
        if missing_objects:
            return [CheckResult(SYSTEM, f"metadata:{entity.entity}", False, "; ".join(missing_objects))]
        results = [CheckResult(SYSTEM, f"metadata:{entity.entity}", True, f"described {', '.join(objects)}")]
        problems: list[str] = []
        reads = [(src.object, f) for f in deduped([src.key, src.stamp, "IsDeleted", *src.fields])]
        for child in src.children:
            reads += [(child.object, f) for f in deduped(["Id", child.parent_field, *child.fields])]
        for obj, path in reads:
            problem = self._path_problem(obj, path)
            if problem:
                problems.append(problem)
        if src.external_id:
            entry = self.describe(src.object).fields.get(src.external_id.lower())
            if entry is None:
                problems.append(f"{src.object}.{src.external_id} does not exist")
            elif not entry.get("externalId") and entry.get("name") != "Id":
                problems.append(f"{src.object}.{src.external_id} is not an External ID field")
        if any("__c" in problem and "does not exist" in problem for problem in problems):
            problems.append(f"SyncHub's custom fields are added by the metadata package: {SETUP_KIT}")
        results.append(
            CheckResult(
                SYSTEM,
                f"fields:{entity.entity}",
                not problems,
                "; ".join(problems) or f"{len(reads)} mapped fields exist",
            )
        )
        not_writable, notes = [], []
        info = self.describe(src.object)
        for name in src.writable:
            entry = info.fields.get(name.lower())
            if entry is None:
                not_writable.append(f"{src.object}.{name} does not exist")
            elif not entry.get("createable") and not entry.get("updateable"):
                not_writable.append(f"{src.object}.{name} is neither createable nor updateable")
            elif not entry.get("updateable"):
                notes.append(f"{src.object}.{name} is create-only (left out when updating known records)")
            elif not entry.get("createable"):
                notes.append(f"{src.object}.{name} is update-only")
        detail = "; ".join(not_writable + notes) or f"{len(src.writable)} fields can be created and updated"
        results.append(CheckResult(SYSTEM, f"writable:{entity.entity}", not not_writable, detail))
        return results

    def _path_problem(self, obj: str, path: str) -> str | None:
        info = self.describe(obj)
        parts = path.split(".")
        where = obj
        for rel in parts[:-1]:
            ref = info.relationships.get(rel.lower())
            if ref is None or not ref.get("referenceTo"):
                return f"{obj}.{path}: {where} has no relationship {rel}"
            where = str(ref["referenceTo"][0])
            try:
                info = self.describe(where)
            except ConnectorError:
                return f"{obj}.{path}: object {where} cannot be described"
        if parts[-1].lower() not in info.fields:
            return f"{obj}.{path} does not exist" + (f" (on {where})" if where != obj else "")
        return None
