"""How SyncHub installs into someone else's Airflow: the wheel carries the mappings, suites and templates,
declares its runtime dependencies as ranges with the test tools only in extras, and resolves, in a clean
virtual environment against the exact lock as constraints, to the lock's versions without test tools."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # builds a wheel and asks the package index

REPO = Path(__file__).resolve().parents[1]
TEST_TOOLS = {"pytest", "pytest-xdist", "pytest-timeout", "playwright", "ruff", "faker", "lark"}


def pins() -> dict[str, str]:
    found = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            found[normal(name)] = version.strip()
    return found


def normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("synchub-*.whl")
    return built


def test_the_wheel_carries_the_mappings_their_schemas_the_suites_and_the_admin_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for entity in ("customer", "product", "price", "order"):
        assert f"mdm/mappings/{entity}.yaml" in names
        assert f"mdm/quality/suites/{entity}.yaml" in names
    for schema in ("schema.json", "match.schema.json", "survivorship.schema.json"):
        assert f"mdm/mappings/{schema}" in names
    assert "mdm/admin/templates/base.html" in names and "mdm/migrations/env.py" in names
    assert not any(name.startswith(("tests/", "bench/", "dags/")) for name in names)


def test_test_tools_are_only_in_extras_and_the_postgres_extra_has_both_drivers(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist") or []
    runtime = {
        normal(r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0])
        for r in requires
        if "extra ==" not in r
    }
    assert runtime and not runtime & TEST_TOOLS
    assert {"apache-airflow", "great-expectations", "simple-salesforce", "pyodata", "sqlalchemy"} <= runtime
    postgres = " ".join(r for r in requires if 'extra == "postgres"' in r)
    assert "psycopg" in postgres and "asyncpg" in postgres
    assert set(meta.get_all("Provides-Extra") or []) >= {"postgres", "sandbox", "dev", "bench"}


def test_a_clean_environment_resolves_it_to_the_lock_without_test_tools(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            str(env / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            "-c",
            str(REPO / "requirements.txt"),
            f"{REPO}[postgres]",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    chosen = {
        normal(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert not set(chosen) & TEST_TOOLS
    assert {"asyncpg", "psycopg", "apache-airflow"} <= set(chosen)
    locked = pins()
    assert {name: v for name, v in chosen.items() if name != "synchub" and locked.get(name) != v} == {}
