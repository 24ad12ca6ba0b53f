"""DAG integrity: every file in dags/ parses with no secrets, connections or network, and is wired safely.

The DagBag is built in a fresh interpreter whose environment holds no connection, no store URL and
no CA bundle, with socket connects, connection and Variable look-ups made to fail: whatever a DAG
file touches at parse time turns into an import error here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

PARSE_SCRIPT = r"""
import json, socket, sys, time

def refuse(*args, **kwargs):
    raise RuntimeError("network or secrets used at DAG parse time")

socket.socket.connect = refuse
socket.create_connection = refuse

from airflow.sdk import BaseHook, Variable
BaseHook.get_connection = classmethod(refuse)
Variable.get = staticmethod(refuse)

from airflow.dag_processing.dagbag import DagBag

started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
from mdm.dag_wiring import asset_behind
seconds = time.perf_counter() - started
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "schedule": repr(dag.timetable),
        "doc_md": dag.doc_md or "",
        "params": sorted(dag.params.keys()),
        "tasks": {
            t.task_id: {
                "retries": t.retries,
                "upstream": sorted(t.upstream_task_ids),
                "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
                # A step task's outlet is its change alias; the asset behind it is what it updates.
                "outlets": [getattr(o, "uri", None) or asset_behind(o).uri for o in t.outlets],
                "pool": t.pool,
                "timeout_seconds": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "on_failure": [getattr(c, "__name__", type(c).__name__) for c in t.on_failure_callback or []],
            }
            for t in dag.tasks
        },
    }
print("@@" + json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": dags,
    "files": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
    "seconds": seconds,
    "heavy_modules": sorted(m for m in ("mdm.pipeline", "mdm.publish", "connectors.salesforce",
                                        "connectors.sap", "pandas", "rapidfuzz",
                                        "great_expectations", "mdm.quality.gate") if m in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return parse_dags(tmp_path_factory.mktemp("airflow-home"))


def parse_dags(home: Path, **extra_env: str) -> dict:
    """Every DAG file parsed by Airflow's DagBag in a fresh process, with the network refused."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "SYNCHUB_")) and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    } | extra_env
    done = subprocess.run(
        [sys.executable, "-c", PARSE_SCRIPT, str(DAGS)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("@@"))
    return json.loads(line[2:])


def dag_files() -> list[Path]:
    return sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


def test_dags_folder_has_dag_files() -> None:
    assert dag_files(), "dags/ holds no DAG file"


def test_every_dag_file_imports_without_errors_secrets_or_network(parsed: dict) -> None:
    assert parsed["import_errors"] == {}


# Builds the DAGs of entities added through SYNCHUB_ENTITY_MODULES: none here (tests/dags/test_toy_entity.py).
GENERATED = "synchub_entities.py"


def test_every_dag_file_defines_a_dag(parsed: dict) -> None:
    files_with_dags = {Path(d["fileloc"]).name for d in parsed["dags"].values()}
    assert files_with_dags == {p.name for p in dag_files()} - {GENERATED}


def test_every_declared_entity_has_its_dag_and_no_other(parsed: dict) -> None:
    from mdm.entities import entities

    assert set(parsed["dags"]) == {e.dag_id for e in entities().values()}
    for declared in entities().values():
        assert tuple(parsed["dags"][declared.dag_id]["tasks"]) == (
            "open_run",
            "extract_crm",
            "extract_erp",
            "quality",
            *(s.task_id for s in declared.steps),
            "close_run",
        ), declared.name


def test_dag_files_parse_quickly(parsed: dict) -> None:
    assert parsed["files"], "no parse statistics"
    slow = {f: s for f, s in parsed["files"].items() if s > 2.0}
    assert not slow, f"DAG files slower than 2 s to parse: {slow}"


def test_dag_files_import_no_pipeline_code_at_parse_time(parsed: dict) -> None:
    assert parsed["heavy_modules"] == []


def test_every_dag_has_tags_and_docs(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["tags"], dag_id
        assert len(dag["doc_md"]) > 100, dag_id


def test_every_task_retries(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        no_retries = [task_id for task_id, task in dag["tasks"].items() if task["retries"] < 1]
        assert not no_retries, f"{dag_id}: tasks without retries: {no_retries}"


def test_every_dag_allows_one_active_run_and_no_catchup(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["catchup"] is False, dag_id


# --- synchub_customer's wiring -------------------------------------------------------------------------


@pytest.fixture
def customer(parsed: dict) -> dict:
    return parsed["dags"]["synchub_customer"]


def test_customer_dag_extracts_both_systems_in_parallel_after_opening_the_run(customer: dict) -> None:
    tasks = customer["tasks"]
    assert tasks["extract_crm"]["upstream"] == ["open_run"]
    assert tasks["extract_erp"]["upstream"] == ["open_run"]


def test_customer_dag_runs_quality_match_merge_then_publishes_erp_before_crm(customer: dict) -> None:
    tasks = customer["tasks"]
    assert {"extract_crm", "extract_erp"} <= set(tasks["quality"]["upstream"])
    assert "quality" in tasks["match"]["upstream"]
    assert "match" in tasks["merge"]["upstream"]
    assert "merge" in tasks["publish_erp"]["upstream"]
    assert "publish_erp" in tasks["publish_crm"]["upstream"]


def test_customer_dag_closes_the_run_log_whatever_happened(customer: dict) -> None:
    close = customer["tasks"]["close_run"]
    assert close["upstream"] == ["publish_crm"]
    assert close["trigger_rule"] == "all_done"


def test_customer_dag_merge_updates_the_golden_customer_asset(customer: dict) -> None:
    assert customer["tasks"]["merge"]["outlets"] == ["synchub://golden/customer"]


def test_customer_dag_is_scheduled_and_takes_a_full_reconciliation_param(customer: dict) -> None:
    assert "CronTriggerTimetable" in customer["schedule"]
    assert customer["params"] == ["full"]


@pytest.fixture(scope="module")
def customer_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("synchub_customer_dag_file", DAGS / "synchub_customer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_customer_dag_reconciles_fully_when_the_trigger_asks(customer_module) -> None:
    noon = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
    assert customer_module.wants_full_reconciliation(True, "manual", noon)
    assert not customer_module.wants_full_reconciliation(False, "manual", noon)


def test_customer_dag_reconciles_fully_in_the_daily_scheduled_run_only(customer_module) -> None:
    from airflow.utils.types import DagRunType

    hour = customer_module.FULL_RECONCILIATION_HOUR_UTC
    daily = dt.datetime(2025, 3, 1, hour, tzinfo=dt.UTC)
    assert customer_module.wants_full_reconciliation(False, DagRunType.SCHEDULED, daily)
    assert not customer_module.wants_full_reconciliation(
        False, DagRunType.SCHEDULED, daily.replace(hour=hour + 1)
    )
    assert not customer_module.wants_full_reconciliation(False, DagRunType.MANUAL, daily)


# --- synchub_product, synchub_price, synchub_order: their wiring and how they wait on each other ---------


def asset_uris(schedule: str) -> set[str]:
    """The assets a DAG's schedule waits on, from its timetable's repr."""
    import re

    return set(re.findall(r"uri='([^']+)'", schedule))


def producers(parsed: dict) -> dict[str, str]:
    """Asset URI -> the DAG whose task updates it."""
    return {
        uri: dag_id
        for dag_id, dag in parsed["dags"].items()
        for task in dag["tasks"].values()
        for uri in task["outlets"]
    }


def test_every_synchub_entity_has_its_dag(parsed: dict) -> None:
    assert {"synchub_customer", "synchub_product", "synchub_price", "synchub_order"} <= set(parsed["dags"])


def test_product_dag_has_the_master_data_shape_and_publishes_the_crm_products(parsed: dict) -> None:
    product, customer = parsed["dags"]["synchub_product"], parsed["dags"]["synchub_customer"]
    shape = {t: sorted(task["upstream"]) for t, task in customer["tasks"].items()}
    assert {t: sorted(task["upstream"]) for t, task in product["tasks"].items()} == shape
    assert product["tasks"]["merge"]["outlets"] == ["synchub://golden/product"]
    assert product["tasks"]["publish_crm"]["outlets"] == ["synchub://crm/product"]
    assert "CronTriggerTimetable" in product["schedule"] and product["params"] == ["full"]


def test_price_dag_extracts_both_checks_quality_then_syncs_and_closes_the_run_whatever_happened(
    parsed: dict,
) -> None:
    tasks = parsed["dags"]["synchub_price"]["tasks"]
    assert tasks["extract_crm"]["upstream"] == tasks["extract_erp"]["upstream"] == ["open_run"]
    assert {"extract_crm", "extract_erp"} <= set(tasks["quality"]["upstream"])
    assert "quality" in tasks["sync_crm"]["upstream"]
    assert tasks["close_run"]["upstream"] == ["sync_crm"]
    assert tasks["close_run"]["trigger_rule"] == "all_done"
    assert tasks["sync_crm"]["outlets"] == ["synchub://crm/price"]


def test_order_dag_checks_quality_and_sends_to_the_erp_before_writing_status_back(parsed: dict) -> None:
    tasks = parsed["dags"]["synchub_order"]["tasks"]
    assert tasks["extract_crm"]["upstream"] == tasks["extract_erp"]["upstream"] == ["open_run"]
    assert {"extract_crm", "extract_erp"} <= set(tasks["quality"]["upstream"])
    assert "quality" in tasks["push_erp"]["upstream"]
    assert "push_erp" in tasks["status_crm"]["upstream"]
    assert (
        tasks["close_run"]["upstream"] == ["status_crm"] and tasks["close_run"]["trigger_rule"] == "all_done"
    )


def test_prices_run_after_products_reach_the_crm_and_on_a_daily_schedule(parsed: dict) -> None:
    price = parsed["dags"]["synchub_price"]
    assert "AssetOrTimeSchedule" in price["schedule"] and "CronTriggerTimetable" in price["schedule"]
    waits_on = asset_uris(price["schedule"])
    assert waits_on == {"synchub://crm/product"}
    assert {producers(parsed)[uri] for uri in waits_on} == {"synchub_product"}


def test_orders_run_after_customers_reach_the_erp_and_products_are_merged(parsed: dict) -> None:
    order = parsed["dags"]["synchub_order"]
    assert "AssetOrTimeSchedule" in order["schedule"] and "*/15" in order["schedule"]
    waits_on = asset_uris(order["schedule"])
    assert {producers(parsed)[uri] for uri in waits_on} == {"synchub_customer", "synchub_product"}


# --- what an operator sets through the environment ---------------------------------------------------


def test_every_task_has_a_timeout_by_default(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert {task["timeout_seconds"] for task in dag["tasks"].values()} == {180 * 60}, dag_id
        assert {task["pool"] for task in dag["tasks"].values()} == {"default_pool"}, dag_id


def test_the_environment_sets_the_timeout_the_salesforce_pool_and_the_failure_callbacks(
    tmp_path: Path,
) -> None:
    (tmp_path / "ops_alerts.py").write_text(
        "def page_the_data_team(context):\n    pass\n\n\n"
        "class Notifier:\n    def __call__(self, context):\n        pass\n\n\nteams = Notifier()\n"
    )
    found = parse_dags(
        tmp_path,
        PYTHONPATH=str(tmp_path),
        SYNCHUB_TASK_TIMEOUT_MINUTES="45",
        SYNCHUB_SALESFORCE_POOL="salesforce_api",
        SYNCHUB_ON_FAILURE_CALLBACK="ops_alerts:page_the_data_team, ops_alerts:teams",
    )
    assert found["import_errors"] == {}
    for dag_id, dag in found["dags"].items():
        for task_id, task in dag["tasks"].items():
            assert task["timeout_seconds"] == 45 * 60, (dag_id, task_id)
            assert task["on_failure"] == ["page_the_data_team", "Notifier"], (dag_id, task_id)
            expected = "salesforce_api" if task_id.endswith("_crm") else "default_pool"
            assert task["pool"] == expected, (dag_id, task_id)
    crm_tasks = {
        t
        for dag in found["dags"].values()
        for t, task in dag["tasks"].items()
        if task["pool"] != "default_pool"
    }
    assert {"extract_crm", "publish_crm", "sync_crm", "status_crm"} <= crm_tasks


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SYNCHUB_TASK_TIMEOUT_MINUTES", "soon", "must be a number of minutes"),
        ("SYNCHUB_ON_FAILURE_CALLBACK", "no_such_module:alert", "cannot be imported"),
        ("SYNCHUB_ON_FAILURE_CALLBACK", "alert", "is not module:name"),
    ],
)
def test_a_bad_operations_setting_fails_the_dag_import_naming_the_variable(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    found = parse_dags(tmp_path, **{name: value})
    errors = " ".join(found["import_errors"].values())
    assert name in errors and says in errors
