"""The admin view in a real browser: headless Chromium (Debian's package) driven by Playwright.

The store is filled by the customer pipeline (extract both systems, quality, match, merge) from seeded
sandboxes; seed 42 with 1,000 customers per system gives one pair in the review band. The admin view is
served standalone (uvicorn on a free loopback port, HTTP basic auth as one steward), as ``synchub ui``
serves it. The browser approves the review item by clicking, checks it left the queue and that the
audit log names the steward, and opens a golden record page to check that every field shows where its
value came from (system, record, rule). Screenshots go to ``SYNCHUB_SCREENSHOTS_DIR`` (default
``var/screenshots/``) and to the test's temporary folder.

Chromium comes from Debian (``make test`` installs it: see the Makefile's ``browser`` target); under
CI=true a missing browser fails the test, locally it skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mdm import pipeline
from mdm.admin.app import create_app
from mdm.admin.auth import standalone_actor
from mdm.store.models import GoldenRecord, MatchDecision, Xref
from sandbox.seed import SeedOptions
from tests.conftest import sandbox_connectors

CHROMIUM = Path("/usr/bin/chromium")
# As this machine's notes require: no GPU, no sandbox as root, and nothing that reaches out to the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEWARD, PASSWORD = "browser-steward", "browser-test-password"
SEED = SeedOptions(seed=42, customers=1000, products=0, orders=0)
REPO = Path(__file__).resolve().parents[2]


def _require_browser() -> Any:
    """The Playwright sync API, or a clear failure (CI) / skip (local) when the browser is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: install Debian's chromium (`make browser`, as root)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "the python package playwright is missing: `make venv` installs requirements.txt"
        sync_playwright = None
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI=true: {problem}")
        pytest.skip(problem)
    return sync_playwright


@pytest.fixture
def playwright_api() -> Any:
    """Checked before anything is prepared, so a missing browser fails (or skips) at once."""
    return _require_browser()


@pytest.fixture
def screenshots(tmp_path: Path) -> Iterator[Path]:
    """Screenshots are taken into the test's folder and copied to the shared folder afterwards."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    shared = Path(os.environ.get("SYNCHUB_SCREENSHOTS_DIR") or REPO / "var" / "screenshots")
    shared.mkdir(parents=True, exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy2(shot, shared / shot.name)


@pytest.fixture
def pipeline_store(sandbox_factory, store):
    """The store after one customer run on seeded sandboxes: golden records, xref, one review pair."""
    sandbox_factory(seed=SEED)
    clients = sandbox_connectors()
    mapping = pipeline.load_entity_mapping("customer")
    for system in ("salesforce", "sap"):
        pipeline.extract("customer", system, sessions=store, connector=clients[system], mapping=mapping)
    pipeline.quality("customer", sessions=store, mapping=mapping)
    pipeline.match("customer", sessions=store, mapping=mapping)
    pipeline.merge("customer", sessions=store, mapping=mapping)
    with store() as session:
        in_review = session.scalar(
            select(func.count()).select_from(MatchDecision).where(MatchDecision.status == "review")
        )
    assert in_review >= 1, f"seed {SEED} no longer yields a pair in the review band"
    return store


@pytest.fixture
def admin_url(pipeline_store) -> Iterator[str]:
    """The admin view served standalone by uvicorn in a background thread on a free loopback port."""
    import uvicorn

    app = create_app(standalone_actor(STEWARD, PASSWORD), pipeline_store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the admin view did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def browser_page(playwright_api: Any, admin_url: str, tmp_path: Path):
    """A page of headless Chromium in a fresh profile, signed in as the steward (HTTP basic auth)."""
    with playwright_api() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            http_credentials={"username": STEWARD, "password": PASSWORD},
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            context.close()


def test_a_steward_approves_a_review_item_and_reads_why_golden_values_won(
    playwright_api: Any, browser_page, admin_url: str, pipeline_store, screenshots: Path
) -> None:
    page = browser_page

    page.goto(admin_url + "/")
    assert int(page.get_by_test_id("open-reviews").inner_text()) >= 1
    assert page.get_by_test_id("user").inner_text() == f"signed in as {STEWARD}"
    page.screenshot(path=screenshots / "01-dashboard.png", full_page=True)

    # The review queue: both records side by side with the evidence; approve the first pair by clicking.
    page.get_by_role("link", name="Review queue").click()
    card = page.locator("article.review").first
    decision = int(card.get_attribute("data-decision"))
    assert card.locator("table.side-by-side tbody tr").count() >= 3
    assert card.locator("table.evidence tbody tr").count() >= 1
    page.screenshot(path=screenshots / "02-review-queue.png", full_page=True)
    card.get_by_role("button", name="Approve (link)").click()
    page.wait_for_url("**/reviews?done=*")
    assert f"Review {decision} approved by {STEWARD}." in page.get_by_role("status").inner_text()
    assert page.locator(f'article.review[data-decision="{decision}"]').count() == 0
    page.screenshot(path=screenshots / "03-review-approved.png", full_page=True)
    with pipeline_store() as session:
        row = session.get(MatchDecision, decision)
        assert (row.status, row.decided_by) == ("approved", STEWARD)

    # The audit log names who approved which pair.
    page.get_by_role("link", name="Audit log").click()
    entry = page.locator("#audit tbody tr").filter(has_text=f"match_decision:{decision}")
    assert entry.locator("td.actor").inner_text() == STEWARD
    assert "review.approve" in entry.inner_text()
    page.screenshot(path=screenshots / "04-audit-log.png", full_page=True)

    # A golden record with members in both systems, reached through the search by name.
    with pipeline_store() as session:
        golden_id = session.scalar(
            select(Xref.golden_id)
            .group_by(Xref.golden_id)
            .having(func.count(func.distinct(Xref.system)) == 2)
            .order_by(Xref.golden_id)
            .limit(1)
        )
        golden = session.get(GoldenRecord, golden_id)
        members = session.scalar(select(func.count()).select_from(Xref).where(Xref.golden_id == golden_id))
    page.get_by_role("link", name="Golden records").click()
    page.get_by_label("name or id contains").fill(golden.values["name"][:12])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=golden_id).click()
    page.wait_for_url(f"**/golden/{golden_id}")

    rows = page.locator("#provenance tbody tr")
    assert rows.count() == len(golden.values)
    for field, origin in golden.provenance.items():
        if field not in golden.values:
            continue
        row = page.locator(f'#provenance tr[data-field="{field}"]')
        assert row.locator("td.system").inner_text() == (origin.get("system") or ""), field
        assert row.locator("td.rule").inner_text() == (origin.get("rule") or ""), field
    systems = {origin.get("system") for origin in golden.provenance.values()}
    assert systems & {"salesforce", "sap"}, golden.provenance
    assert members >= 2
    assert page.locator("table.side-by-side thead th").count() == 1 + members  # field + one column per member
    page.screenshot(path=screenshots / "05-golden-record.png", full_page=True)
