"""Where SyncHub's reports go: the DQ summary page and the Great Expectations Data Docs.

``SYNCHUB_REPORTS_DIR`` is a folder (default ``var/reports`` under the working directory) or an object
storage URL (``s3://bucket/synchub``, ``gs://...``, ``abfs://...``; any fsspec protocol Airflow's
``ObjectStoragePath`` knows), so that every worker and the UI reach the same files rather than a
worker's local disk. ``SYNCHUB_REPORTS_CONN_ID`` names the Airflow connection with the storage's
credentials (the provider's own: ``aws_default``, ``google_cloud_default`` ...).

Reports are written into a local folder first (the folder itself when the location is local) and then
copied under the same relative paths to the location, so the summary page's relative links to the Data
Docs hold there too.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

REPORTS_ENV = "SYNCHUB_REPORTS_DIR"
REPORTS_CONN_ENV = "SYNCHUB_REPORTS_CONN_ID"
DEFAULT_REPORTS_DIR = Path("var") / "reports"


def reports_location() -> str:
    """The configured location: a folder path or an object storage URL."""
    return os.environ.get(REPORTS_ENV, "").strip() or str(DEFAULT_REPORTS_DIR.resolve())


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def local_reports_dir() -> Path:
    """The folder reports are written into: the location itself when it is local, else a local staging
    folder of that location (under the system's temporary folder)."""
    location = reports_location()
    if not is_remote(location):
        return Path(location.removeprefix("file://")).resolve()
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "synchub-reports" / digest


def publish(local_path: Path) -> str:
    """Copy a file or folder written under ``local_reports_dir()`` to the same place under the reports
    location; returns where it is now (the local path itself for a local location)."""
    location = reports_location()
    local_path = Path(local_path).resolve()
    if not is_remote(location):
        return str(local_path)
    from airflow.sdk import ObjectStoragePath  # fsspec through Airflow: the connection's credentials

    base = local_reports_dir().resolve()
    root = ObjectStoragePath(location, conn_id=os.environ.get(REPORTS_CONN_ENV) or None)
    files = [local_path] if local_path.is_file() else sorted(p for p in local_path.rglob("*") if p.is_file())
    for file in files:
        target = root / file.relative_to(base).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_bytes())
    return str(root / local_path.relative_to(base).as_posix())
