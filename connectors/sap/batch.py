"""OData ``$batch``: a chunk of plans sent as one request, a changeset per record; the multipart
answer read back and judged (ETags, conflicts, creates that may have landed)."""

from __future__ import annotations

import json
import re
import time as clock
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from pyodata.exceptions import HttpError
from pyodata.v2 import model as odata_model
from pyodata.v2.service import (
    BatchRequest,
    Changeset,
    EntityKey,
)

from connectors.base import (
    EntitySource,
    WriteOutcome,
)
from connectors.errors import (
    RETRIABLE_STATUS,
    RetriableError,
)
from connectors.sap.session import Gateway, retry_after_of, sap_error
from connectors.sap.settings import KEY_CHUNK, MAY_HAVE_LANDED, SYSTEM, log
from connectors.sap.values import as_plain, equal_as_property, key_value, literal_of, parsed_property
from connectors.sap.write import Plan, failed_outcome


@dataclass
class _Answer:
    """One HTTP answer inside a ``$batch`` response (the fields pyodata's ODataHttpResponse has)."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content) if self.content.strip() else None


@dataclass
class _ChangesetResult:
    ok: bool
    responses: list[_Answer]  # every operation's answer when ok, else the one error answer


_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";\s]+)"?', re.IGNORECASE)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _multipart(body: bytes, content_type: str) -> list[bytes]:
    """The body parts of a multipart/mixed body (RFC 2046), without their delimiters."""
    match = _BOUNDARY.search(content_type)
    if not match:
        raise ValueError(f"multipart answer without a boundary: {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        parts.append(chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n"))
    return parts


def _head(block: bytes) -> tuple[list[str], bytes]:
    """The header lines of a block up to the first empty line, and what follows."""
    match = _HEAD_END.search(block)
    if match is None:
        return block.decode("utf-8", "replace").splitlines(), b""
    return block[: match.start()].decode("utf-8", "replace").splitlines(), block[match.end() :]


def _headers(lines: list[str]) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines)
    return {name.strip().lower(): value.strip() for name, sep, value in pairs if sep}


def _http_answer(part: bytes) -> _Answer:
    """An ``application/http`` body part: its MIME headers, then status line, headers and body."""
    _, message = _head(part)
    lines, body = _head(message)
    status_line = lines[0].split() if lines else []
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 500
    headers = _headers(lines[1:])
    length = headers.get("content-length")
    if length and length.isdigit():
        body = body[: int(length)]
    else:
        body = body.rstrip(b"\r\n")
    return _Answer(status, headers, body)


def _batch_results(body: bytes, content_type: str) -> list[_ChangesetResult]:
    """Per changeset: every operation's answer, or the one error answer SAP gives for a failed changeset."""
    results = []
    for part in _multipart(body, content_type):
        lines, inner = _head(part)
        part_type = _headers(lines).get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            answers = [_http_answer(p) for p in _multipart(inner, part_type)]
            results.append(_ChangesetResult(all(200 <= a.status_code < 300 for a in answers), answers))
        else:
            answer = _http_answer(part)
            results.append(_ChangesetResult(200 <= answer.status_code < 300, [answer]))
    return results


class Batches:
    """Sending a chunk of plans as one ``$batch`` and judging each changeset's answer."""

    def _write_chunk(
        self,
        service: Gateway,
        entity: EntitySource,
        entity_set: odata_model.EntitySet,
        plans: list[Plan],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        """Send one chunk as one ``$batch`` (more only for retried changesets) and record the outcomes."""
        self._fill_etags(
            service,
            entity_set,
            [
                p
                for p in plans
                if p.kind == "update" and p.changed and service.has_etag(entity_set) and not p.etag
            ],
        )
        pending = plans
        round_ = 0
        while pending:
            results = self._send_batch(service, entity, pending, outcomes)
            # A server that stops at the first failed changeset answers only the parts it processed:
            # the changesets after them were not run, and go again at once (no retry round spent).
            answered = {plan.index for plan, _ in results}
            unanswered = [p for p in pending if p.index not in answered and outcomes[p.index] is None]
            again: list[Plan] = []
            last_error: RetriableError | None = None
            for plan, result in results:
                if result.ok:
                    outcomes[plan.index] = self._success(plan, result)
                    continue
                response = result.responses[0]
                status = int(response.status_code)
                code, message = sap_error(response.content)
                if status == 412 and plan.kind == "update" and not plan.etag_retried:
                    outcome = self._after_conflict(service, plan, code)
                    if outcome is None:
                        again.append(plan)
                    else:
                        outcomes[plan.index] = outcome
                elif status in RETRIABLE_STATUS or status >= 500:
                    again.append(plan)
                    last_error = RetriableError(
                        message or f"HTTP {status}",
                        retry_after=retry_after_of(response.headers),
                        remote_code=code,
                        status=status,
                        system=SYSTEM,
                        operation="batch",
                    )
                else:
                    if status == 412:
                        code, message = (
                            "ETAG_MISMATCH",
                            f"changed in SAP since it was read ({code}): {message}",
                        )
                    outcomes[plan.index] = failed_outcome(plan.record, code or f"HTTP {status}", message)
            retried = [p for p in again if outcomes[p.index] is None]
            pending = sorted(retried + unanswered, key=lambda p: p.index)
            if unanswered and results:
                log.info(
                    "sap write %s: $batch answered %d of %d changesets; sending the other %d again",
                    entity.entity,
                    len(results),
                    len(results) + len(unanswered),
                    len(unanswered),
                )
            if not retried and results:
                continue
            round_ += 1
            if round_ >= self.settings.retry.max_attempts:
                break
            if last_error is not None:
                clock.sleep(self.settings.retry.delay(round_, last_error))
        for plan in pending:
            outcomes[plan.index] = failed_outcome(
                plan.record, "RETRIES_EXHAUSTED", "SAP kept refusing the changeset"
            )

    def _send_batch(
        self,
        service: Gateway,
        entity: EntitySource,
        plans: list[Plan],
        outcomes: list[WriteOutcome | None],
    ) -> list[tuple[Plan, _ChangesetResult]]:
        """One ``$batch`` call (retried as a whole); creates that may have landed are looked up first."""
        state = {"pending": list(plans)}

        def after_failure(error: RetriableError) -> None:
            creates = [p for p in state["pending"] if p.kind == "create" and p.id_value]
            if error.status not in MAY_HAVE_LANDED or not creates:
                return
            found = self._lookup_created(service, entity, creates)
            for plan in creates:
                if plan.id_value in found:
                    outcomes[plan.index] = WriteOutcome(plan.record.key, "created", found[plan.id_value])
            state["pending"] = [p for p in state["pending"] if outcomes[p.index] is None]
            if found:
                log.warning(
                    "sap write %s: %d creates had landed before the failure; not sent again",
                    entity.entity,
                    len(found),
                )

        def send() -> list[tuple[Plan, _ChangesetResult]]:
            pending = state["pending"]
            if not pending:
                return []
            # pyodata builds the multipart request; the answer is split here, because pyodata's parser
            # (the email package) takes longer than SAP for large batches and its changeset handler
            # drops every changeset's answer after the first failed one.
            batch = BatchRequest(service.url, self.session, None)
            for plan in pending:
                changeset = Changeset(service.url, self.session, None)
                for request in self._requests_of(service, plan):
                    changeset.add_request(request)
                batch.add_request(changeset)
            response = self.session.post(
                urljoin(service.url, batch.get_path()),
                data=batch.get_body().encode(),
                headers=batch.get_headers(),
            )
            if response.status_code != 202:
                raise HttpError(f"$batch answered {response.status_code}", response)
            results = _batch_results(response.content, response.headers.get("content-type", ""))
            # Parts answer changesets in order. Fewer parts than changesets: the server stopped (at a
            # failed changeset); the unanswered ones were not processed. More, or none: a broken answer.
            if not results or len(results) > len(pending):
                raise RetriableError(
                    f"$batch answered {len(results)} parts for {len(pending)} changesets",
                    system=SYSTEM,
                    operation="batch",
                    entity=entity.sap.entity_set,
                )
            return list(zip(pending[: len(results)], results, strict=True))

        return self._call(
            "batch",
            send,
            service=service,
            entity=entity.sap.entity_set,
            reading=False,
            on_retry=after_failure,
            uncounted=lambda: not state["pending"],
        )

    def _success(self, plan: Plan, result: _ChangesetResult) -> WriteOutcome:
        if plan.kind == "update":
            return WriteOutcome(plan.record.key, "updated", plan.record.remote_key)
        body = result.responses[0].json() or {}
        created = body.get("d", {})
        keys = [p.name for p in plan.entity_set.entity_type.key_proprties]
        return WriteOutcome(plan.record.key, "created", "|".join(str(created.get(k)) for k in keys))

    def _lookup_created(self, service: Gateway, entity: EntitySource, plans: list[Plan]) -> dict[str, str]:
        """Remote keys of entities whose idempotency property holds the plans' values."""
        values = sorted({p.id_value for p in plans if p.id_value})
        return self._lookup_values(service, plans[0].entity_set, values)

    def _fill_etags(self, service: Gateway, entity_set: odata_model.EntitySet, plans: list[Plan]) -> None:
        """Read the current ETag of entities to update whose ``expected`` did not bring one."""
        if not plans:
            return
        entity_type = entity_set.entity_type
        keys = [p.name for p in entity_type.key_proprties]
        by_key = {"|".join(str(p.key[k]) for k in keys): p for p in plans}
        items = list(by_key.values())
        for start in range(0, len(items), KEY_CHUNK):
            expr = " or ".join(
                "("
                + " and ".join(f"{k} eq {literal_of(entity_type.proprty(k), p.key[k])}" for k in keys)
                + ")"
                for p in items[start : start + KEY_CHUNK]
            )
            for hit in self._query_all(service, entity_set, expr, select=",".join(keys)):
                plan = by_key.get("|".join(str(parsed_property(hit, k)) for k in keys))
                if plan is not None:
                    plan.etag = hit.etag

    def _after_conflict(self, service: Gateway, plan: Plan, code: str | None) -> WriteOutcome | None:
        """After a 412, re-read: ``updated`` if SAP holds our values, None to retry with the new ETag,
        else failed."""
        entity_type = plan.entity_set.entity_type
        proxy = getattr(service.client.entity_sets, plan.entity_set.name)
        key = EntityKey(entity_type, **{k: key_value(entity_type.proprty(k), v) for k, v in plan.key.items()})
        current = self._call(
            "get", lambda: proxy.get_entity(key).execute(), service=service, entity=plan.entity_set.name
        )
        values = as_plain(entity_type, current, {})
        if all(equal_as_property(entity_type.proprty(k), v, values.get(k)) for k, v in plan.changed.items()):
            return WriteOutcome(plan.record.key, "updated", plan.record.remote_key)
        expected = plan.record.expected
        plan.etag_retried = True
        if expected is not None and all(
            equal_as_property(entity_type.proprty(k), values.get(k), expected.get(k)) for k in plan.changed
        ):
            plan.etag = current.etag
            return None
        return failed_outcome(
            plan.record,
            "ETAG_MISMATCH",
            f"{plan.entity_set.name} {plan.record.remote_key} was changed in SAP since it was read ({code}); "
            "re-read it and write again",
        )
