"""The platform's checks on a write: JSON types, field existence and permissions, types, lengths,
restricted picklists, references and unique external ids, each failing with Salesforce's error code."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.org_model import (
    DATE_RE,
    EMAIL_RE,
    NUMBER_TYPES,
    TEXT_TYPES,
    Record,
    SalesforceApiError,
    format_datetime,
    normalize_id,
    parse_datetime,
)
from sandbox.salesforce.schema import (
    KEY_PREFIX,
    FieldDef,
    ObjectDef,
)


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _type_error(f: FieldDef, value: Any) -> SalesforceApiError:
    return SalesforceApiError(
        400, "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name]
    )


_JAVA_TYPES = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
    "reference": "Id",
    "id": "Id",
}


def _json_error(f: FieldDef, value: Any) -> SalesforceApiError:
    token = {
        bool: "VALUE_TRUE" if value is True else "VALUE_FALSE",
        str: "VALUE_STRING",
        dict: "START_OBJECT",
        list: "START_ARRAY",
        int: "VALUE_NUMBER_INT",
        float: "VALUE_NUMBER_FLOAT",
    }.get(type(value), "VALUE")
    shown = "" if isinstance(value, dict | list) else f" value {value}"
    return SalesforceApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {_JAVA_TYPES.get(f.type, 'string')} from {token}{shown} or request "
        "may be missing a required field",
    )


class OrgValidation:
    """Validation of one write against the object's describe; mixed into ``SalesforceOrg``."""

    # ------------------------------------------------------------------ validation
    def _field_of(self, od: ObjectDef, key: str) -> FieldDef | None:
        """The field ``key`` names; None for a SyncHub custom field this org does not have (yet), which a
        write skips; INVALID_FIELD for any other unknown name."""
        f = od.field(key)
        if f is None and not self.synchub_fields and key.endswith("__c"):
            return None
        if f is None:
            raise SalesforceApiError(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {od.name}"
            )
        return f

    def check_json_types(self, obj: str, fields: dict[str, Any]) -> None:
        """Reject values the REST JSON deserializer cannot turn into the field's type (JSON_PARSER_ERROR)."""
        od = self.object_def(obj)
        for key, value in fields.items():
            f = od.field(key) if key != "attributes" else None
            if f is None or value is None:
                continue  # relationship references and unknown fields are judged by the write itself
            if isinstance(value, dict | list):
                raise _json_error(f, value)
            try:
                self._coerce(od, f, value, check_content=False)
            except SalesforceApiError as exc:
                if exc.error_code == "INVALID_TYPE_ON_FIELD_IN_RECORD":
                    raise _json_error(f, value) from exc

    def _prepare(self, od: ObjectDef, fields: dict[str, Any], *, existing: Record | None) -> dict[str, Any]:
        """Validate a write's fields and return them keyed by canonical name with canonical values."""
        creating = existing is None
        values: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in fields.items():
            if key == "attributes":
                continue
            if "." in key or isinstance(value, dict):
                ref_field, ref_id = self._resolve_foreign_key(od, key, value)
                if not (ref_field.createable if creating else ref_field.updateable):
                    not_writable.append(ref_field.name)
                values[ref_field.name] = ref_id
                continue
            f = self._field_of(od, key)
            if f is None:
                continue  # a SyncHub field this org does not have yet
            if f.name == "Id" and creating:
                raise SalesforceApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", [])
            if not (f.createable if creating else f.updateable):
                not_writable.append(f.name)
                continue
            values[f.name] = value
        if not_writable:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. "
                "Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                not_writable,
            )
        for name, value in list(values.items()):
            f = od.fields[name]
            if value is None or (isinstance(value, str) and value == "" and f.type != "boolean"):
                values[name] = False if f.type == "boolean" else None
                continue
            values[name] = self._coerce(od, f, value)
        missing = []
        for f in od.fields.values():
            if not f.required_on_create:
                continue
            if (
                creating
                and values.get(f.name) is None
                or not creating
                and f.name in values
                and values[f.name] is None
            ):
                missing.append(f.name)
        if od.name == "OrderItem" and creating and values.get("UnitPrice") is None:
            missing.append("UnitPrice")
        if missing:
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for name, value in values.items():
            f = od.fields[name]
            if f.type == "reference" and value is not None:
                self._check_reference(f, value)
        return values

    def _coerce(self, od: ObjectDef, f: FieldDef, value: Any, *, check_content: bool = True) -> Any:
        """Turn a JSON or CSV value into the stored form of the field's type, or raise as the org does."""
        kind = f.type
        if kind in TEXT_TYPES or kind == "textarea":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _type_error(f, value)
            text = value if isinstance(value, str) else _number_text(value)
            if not check_content:
                return text
            if f.length and len(text) > f.length:
                raise SalesforceApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{f.name}: data value too large: {text} (max length={f.length})",
                    [f.name],
                )
            if kind == "email" and not EMAIL_RE.match(text):
                raise SalesforceApiError(
                    400, "INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {text}", [f.name]
                )
            if f.restricted_picklist and text not in f.picklist_values:
                raise SalesforceApiError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.name}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise _type_error(f, value)
        if kind == "int":
            if isinstance(value, bool):
                raise _type_error(f, value)
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    number = float(value.strip())
                except ValueError:
                    raise _type_error(f, value) from None
                if number.is_integer():
                    return int(number)
            raise _type_error(f, value)
        if kind in NUMBER_TYPES:
            if isinstance(value, bool):
                raise _type_error(f, value)
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    raise _type_error(f, value) from None
            raise _type_error(f, value)
        if kind == "date":
            if not isinstance(value, str):
                raise _type_error(f, value)
            m = DATE_RE.match(value.strip())
            parsed = parse_datetime(value) if m else None
            if parsed is None:
                raise _type_error(f, value)
            return parsed.strftime("%Y-%m-%d")
        if kind == "datetime":
            if not isinstance(value, str):
                raise _type_error(f, value)
            parsed = parse_datetime(value)
            if parsed is None:
                raise _type_error(f, value)
            return format_datetime(parsed)
        if kind in ("reference", "id"):
            if not isinstance(value, str):
                raise _type_error(f, value)
            rid = normalize_id(value.strip())
            if rid is None:
                raise SalesforceApiError(
                    400, "MALFORMED_ID", f"{f.name}: id value of incorrect type: {value}", [f.name]
                )
            return rid
        return value

    def _check_reference(self, f: FieldDef, record_id: str) -> None:
        target = self.object_for_id(record_id)
        known_prefixes = {KEY_PREFIX[t] for t in f.reference_to if t in KEY_PREFIX}
        if known_prefixes and record_id[:3] not in known_prefixes:
            raise SalesforceApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{f.name}: id value of incorrect type: {record_id}",
                [f.name],
            )
        if target is None or target not in f.reference_to:
            return  # Users, groups, contracts...: not stored in the sandbox, any well-formed Id will do.
        rec = self._records[target].get(record_id)
        if rec is None:
            raise SalesforceApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"field integrity exception: {f.name} "
                f"(id value of incorrect type or record not found: {record_id})",
                [f.name],
            )
        if rec["IsDeleted"]:
            raise SalesforceApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [f.name])

    def _resolve_foreign_key(self, od: ObjectDef, key: str, value: Any) -> tuple[FieldDef, str | None]:
        """``{"Account": {"SyncHub_Id__c": "X"}}`` (REST) or ``Account.SyncHub_Id__c`` (CSV) -> AccountId."""
        if isinstance(value, dict):
            rel_name = key
            pairs = [(k, v) for k, v in value.items() if k != "attributes"]
            if len(pairs) != 1:
                raise SalesforceApiError(400, "INVALID_FIELD", f"Invalid foreign key relationship: {key}")
            ext_name, ext_value = pairs[0]
        else:
            rel_name, _, ext_name = key.partition(".")
            ext_value = value
        ref = od.relationship(rel_name)
        if ref is None or len(ref.reference_to) != 1 or ref.reference_to[0] not in self.schema:
            raise SalesforceApiError(
                400, "INVALID_FIELD", f"No such column '{rel_name}' on sobject of type {od.name}"
            )
        target = self.schema[ref.reference_to[0]]
        ext = target.field(ext_name)
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext_name} is not an External ID or indexed field for {target.name}",
            )
        if ext_value is None or ext_value == "":
            return ref, None
        matches = self.find_by_external_id(target.name, ext.name, str(ext_value))
        if not matches:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {ext_value} not found for field {ext.name} "
                f"in entity {target.name}",
                [],
            )
        if len(matches) > 1:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"More than 1 record found for External ID field {ext.name} in entity {target.name}",
                [],
            )
        return ref, matches[0]

    def _check_unique(self, od: ObjectDef, rec: Record) -> None:
        for f in od.fields.values():
            if not f.unique or rec.get(f.name) is None:
                continue
            ids = self._ext_index[(od.name, f.name)].get(str(rec[f.name]).lower(), set())
            table = self._records[od.name]
            others = sorted(i for i in ids if i != rec["Id"] and not table[i]["IsDeleted"])
            if others:
                raise SalesforceApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                    [],
                )
