"""A connection's extras, read by name and typed, for both connectors.

SyncHub's own knobs are named ``synchub_<knob>`` in the extras of either connection, so they never
collide with what the Airflow providers read from the same connection (``sap-client``, ``verify``, the
Salesforce provider's ``security_token`` ...). Extras the SAP connector read under their bare names
before that convention (``look_back_seconds``, ``batch_size``, ``ca_bundle`` ...) are still read, with a
warning naming the new name, when the prefixed one is not set. A value that does not fit fails fast,
naming the connection and the extra as it is written there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from connectors.errors import ConfigError

log = logging.getLogger(__name__)

PREFIX = "synchub_"


class ExtrasReader:
    """Typed, by-name access to a connection's extras (``synchub_<name>``, else a legacy bare name)."""

    def __init__(
        self,
        extras: Mapping[str, Any],
        conn_id: str,
        system: str,
        *,
        legacy: Mapping[str, str] | None = None,
        error: Callable[[str, str, str], ConfigError] | None = None,
    ) -> None:
        self.extras = extras
        self.conn_id = conn_id
        self.system = system
        self.legacy = dict(legacy or {})  # knob -> the bare extra it was read from before
        self._error = error

    def fail(self, extra: str, reason: str) -> ConfigError:
        if self._error is not None:
            return self._error(self.conn_id, extra, reason)
        return ConfigError(
            f"connection {self.conn_id!r}, extra {extra!r}: {reason}", system=self.system, operation="config"
        )

    def _value(self, name: str) -> tuple[str, Any]:
        """(the extra's name as written, its value); None for unset or blank."""
        for extra in (PREFIX + name, self.legacy.get(name)):
            if extra is None:
                continue
            value = self.extras.get(extra)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if extra != PREFIX + name:
                log.warning(
                    "connection %r: extra %r is read under its old name; name it %r",
                    self.conn_id,
                    extra,
                    PREFIX + name,
                )
            return extra, value
        return PREFIX + name, None

    def raw(self, name: str) -> Any:
        return self._value(name)[1]

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value).strip()

    def number(self, name: str, minimum: float | None = None, *, percent: bool = False) -> float | None:
        """A number (``percent``: "5%" reads as 5) at least ``minimum`` when one is given."""
        extra, value = self._value(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.fail(extra, f"expected a number, got {value!r}")
        text = str(value).strip()
        try:
            number = float(text.rstrip("%") if percent else text)
        except ValueError:
            raise self.fail(extra, f"expected a number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise self.fail(extra, f"must be at least {minimum}, got {value!r}")
        return number

    def integer(self, name: str, minimum: int | None = None) -> int | None:
        extra, value = self._value(name)
        if value is None:
            return None
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.fail(extra, f"expected a whole number, got {value!r}")
        try:
            number = int(value) if isinstance(value, int | float) else int(str(value).strip())
        except ValueError:
            raise self.fail(extra, f"expected a whole number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise self.fail(extra, f"must be at least {minimum}, got {value!r}")
        return number

    def boolean(self, name: str) -> bool | None:
        extra, value = self._value(name)
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise self.fail(extra, f"expected true or false, got {value!r}")
