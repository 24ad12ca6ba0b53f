"""What a write must send: the part of the values a system should hold that it does not hold yet.

Used by every planner (publish, the order status): flat fields compare as values (None and "" alike);
nested items (an SAP partner's addresses with their phones) come whole over what the system holds
for them, so the connector can merge them into the right child.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm.runtime import same_value


def differences(
    want: Mapping[str, Any], have: Mapping[str, Any], raw: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The part of ``want`` that ``have`` lacks or holds differently.

    A nested item (``to_BusinessPartnerAddress[0]``) that differs in any value comes whole, over the
    properties the system holds for it in ``raw`` (its keys among them), so the connector merges it into
    that child; an item the system does not have yet comes whole, to be created. Fields ``want`` does
    not name are left alone: publishing never clears a value.
    """
    out: dict[str, Any] = {}
    for name, value in want.items():
        if isinstance(value, list):
            have_items = have.get(name) if isinstance(have.get(name), list) else []
            raw_items = (raw or {}).get(name)
            raw_items = raw_items if isinstance(raw_items, list) else []
            sent = []
            for i, item in enumerate(value):
                theirs = have_items[i] if i < len(have_items) else None
                stored = raw_items[i] if i < len(raw_items) else None
                if not isinstance(item, Mapping):
                    continue
                inner = differences(item, theirs or {}, stored)
                if theirs is not None and not inner:
                    continue
                if raw is not None and stored is None:
                    sent.append(without_nulls(item))  # not in the system: created with its children
                    continue
                base = {
                    k: v
                    for k, v in (stored or {}).items()
                    if not k.startswith("__") and not isinstance(v, list | dict)
                }
                own = {k: v for k, v in item.items() if not isinstance(v, list | dict)}
                nested = {k: v for k, v in inner.items() if isinstance(v, list)}
                sent.append(base | own | nested)
            if sent:
                out[name] = sent
        elif isinstance(value, Mapping):
            inner = differences(value, have.get(name) or {}, (raw or {}).get(name))
            if inner:
                out[name] = dict(value)
        elif not same_value(value, have.get(name)):
            out[name] = value
    return out


def prune(node: Any) -> Any:
    """Nested items that hold no value at all (a tax number item when there is no VAT id) removed."""
    if isinstance(node, list):
        return [p for p in (prune(item) for item in node) if not _empty(p)]
    if isinstance(node, dict):
        return {k: prune(v) for k, v in node.items()}
    return node


def _empty(node: Any) -> bool:
    if isinstance(node, dict):
        return all(_empty(v) for v in node.values())
    if isinstance(node, list):
        return all(_empty(v) for v in node)
    return node in (None, "")


def without_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [without_nulls(v) for v in node]
    return node
