"""The OAuth 2.0 username-password form for a sandbox Salesforce connection, as the tests post it."""

from __future__ import annotations

from typing import Any


def password_grant(connection: dict[str, Any]) -> dict[str, str]:
    """The token request's form fields (``grant_type=password``) from an Airflow Salesforce connection."""
    return {
        "grant_type": "password",
        "client_id": connection["extra"]["consumer_key"],
        "client_secret": connection["extra"]["consumer_secret"],
        "username": connection["login"],
        "password": connection["password"],
    }
