"""The admin app without a browser: pages render from the store, actions need a user and record who.

The store is the ``stocked`` fixture of ``tests/admin/conftest.py``.
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mdm.admin.app import create_app
from mdm.admin.auth import standalone_actor
from mdm.store.models import AuditEntry, DeadLetter, GoldenRecord, MatchDecision, Run
from tests.admin.conftest import CRM, DUPLICATE, ERP, GOLDEN


def client_for(sessions, user: str = "steward", password: str | None = None) -> TestClient:
    return TestClient(create_app(standalone_actor(user, password), sessions))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def review_id(store) -> int:
    with store() as session:
        return session.scalar(select(MatchDecision.id).where(MatchDecision.left_key == "001B"))


def test_dashboard_shows_runs_dq_pass_rates_and_queue_sizes(stocked) -> None:
    page = client_for(stocked).get("/")
    assert page.status_code == 200
    assert "synchub_customer" in page.text and "success" in page.text
    assert "matched 1" in page.text and "review 1" in page.text
    assert "expect_column_values_to_match_regex(vat_number)" in page.text
    assert 'data-testid="open-reviews">1<' in page.text
    assert 'data-testid="open-errors">1<' in page.text
    assert "signed in as <strong>steward</strong>" in page.text


def test_pages_work_offline_with_the_local_stylesheet(stocked) -> None:
    client = client_for(stocked)
    page = client.get("/")
    assert 'href="/static/admin.css"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/admin.css").status_code == 200


def test_review_queue_shows_both_records_side_by_side_with_the_evidence(stocked) -> None:
    page = client_for(stocked).get("/reviews")
    assert page.status_code == 200
    assert DUPLICATE["name"] in page.text and ERP["name"] in page.text
    assert "salesforce 001B" in page.text and "sap 1000001" in page.text
    assert "0.810" in page.text and "fuzzy" in page.text
    assert 'value="approve"' in page.text and 'value="reject"' in page.text and 'value="new"' in page.text


def test_approving_records_the_actor_and_takes_the_pair_out_of_the_queue(stocked) -> None:
    client = client_for(stocked, user="alice")
    decision = review_id(stocked)
    done = client.post(f"/reviews/{decision}", data={"action": "approve"}, follow_redirects=False)
    assert done.status_code == 303
    queue = client.get(done.headers["location"])
    assert f"Review {decision} approved by alice." in queue.text
    assert 'data-testid="queue-empty"' in queue.text
    with stocked() as session:
        row = session.get(MatchDecision, decision)
        assert (row.status, row.decided_by) == ("approved", "alice")
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.target) == (
            "alice",
            "review.approve",
            f"match_decision:{decision}",
        )
    assert "alice" in client.get("/audit").text


def test_deciding_a_pair_twice_is_refused_with_a_readable_page(stocked) -> None:
    client = client_for(stocked)
    decision = review_id(stocked)
    client.post(f"/reviews/{decision}", data={"action": "reject"})
    again = client.post(f"/reviews/{decision}", data={"action": "approve"})
    assert again.status_code == 409
    assert "not in review" in again.text


def test_every_page_and_action_requires_the_configured_user_when_a_password_is_set(stocked) -> None:
    client = client_for(stocked, user="alice", password="s3cret-pass")
    decision = review_id(stocked)
    for path in ("/", "/reviews", f"/golden/{GOLDEN}", "/errors", "/audit"):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers=basic("alice", "wrong")).status_code == 401
    assert client.get("/", headers=basic("mallory", "s3cret-pass")).status_code == 401
    anonymous = client.post(f"/reviews/{decision}", data={"action": "approve"})
    assert anonymous.status_code == 401
    assert "s3cret-pass" not in anonymous.text
    with stocked() as session:
        assert session.get(MatchDecision, decision).status == "review"
        assert session.scalars(select(AuditEntry)).first() is None
    assert client.get("/", headers=basic("alice", "s3cret-pass")).status_code == 200


def test_a_standalone_app_needs_a_user_name() -> None:
    with pytest.raises(ValueError, match="user name"):
        standalone_actor("  ")


def test_a_cross_site_form_post_is_refused(stocked) -> None:
    decision = review_id(stocked)
    refused = client_for(stocked).post(
        f"/reviews/{decision}", data={"action": "approve"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    with stocked() as session:
        assert session.get(MatchDecision, decision).status == "review"


def test_golden_page_explains_every_value_and_lists_members_xref_and_history(stocked) -> None:
    page = client_for(stocked).get(f"/golden/{GOLDEN}")
    assert page.status_code == 200
    text = page.text
    assert '<tr data-field="name">' in text
    assert '<td class="system">sap</td>' in text and '<td class="rule">source_priority</td>' in text
    assert '<td class="system">salesforce</td>' in text and '<td class="rule">most_recent</td>' in text
    assert "salesforce 001A" in text and "sap 1000001" in text  # source records side by side
    assert CRM["name"] in text and "DE123456789" in text  # members' canonical values
    assert "vat" in text  # the xref's link rule
    assert "created" in text  # the version history's reason


def test_unknown_golden_record_is_a_404_page(stocked) -> None:
    page = client_for(stocked).get("/golden/SH-NOPE")
    assert page.status_code == 404
    assert "No golden record SH-NOPE" in page.text


def test_golden_records_can_be_found_by_name_substring_and_entity(stocked) -> None:
    client = client_for(stocked)
    assert GOLDEN in client.get("/golden", params={"entity": "customer", "q": "mueller"}).text
    assert GOLDEN not in client.get("/golden", params={"q": "nobody"}).text
    assert GOLDEN not in client.get("/golden", params={"entity": "product"}).text


def test_error_queue_lists_and_shows_the_remote_error(stocked) -> None:
    client = client_for(stocked)
    queue = client.get("/errors")
    assert "Tax number DE123 is not valid" in queue.text
    with stocked() as session:
        letter = session.scalar(select(DeadLetter.id))
    detail = client.get(f"/errors/{letter}")
    assert "CX_SADL_ENTITY_SRV/001" in detail.text
    assert "OrganizationBPName1" in detail.text  # what was sent
    assert "Replay" in detail.text and "Discard" in detail.text


def test_discarding_an_error_needs_a_reason_and_records_who(stocked) -> None:
    client = client_for(stocked, user="bob")
    with stocked() as session:
        letter = session.scalar(select(DeadLetter.id))
    assert client.post(f"/errors/{letter}/discard", data={"reason": ""}).status_code == 422
    done = client.post(f"/errors/{letter}/discard", data={"reason": "test partner, deleted in SAP"})
    assert done.status_code == 200
    assert f"Error {letter} discarded by bob." in done.text
    with stocked() as session:
        row = session.get(DeadLetter, letter)
        assert (row.status, row.resolved_by, row.note) == ("discarded", "bob", "test partner, deleted in SAP")
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action) == ("bob", "errors.discard")


def test_dashboard_of_an_empty_store_renders(store) -> None:
    page = client_for(store).get("/")
    assert page.status_code == 200
    assert "No runs yet." in page.text and "No data-quality results yet." in page.text


def test_run_times_render_for_naive_and_aware_stamps(stocked) -> None:
    with stocked.begin() as session:
        session.add(Run(job="synchub_product", status="failed", started_at=dt.datetime(2026, 1, 2, 3, 4, 5)))
    page = client_for(stocked).get("/")
    assert "synchub_product" in page.text and "2026-01-02 03:04:05" in page.text


def test_replaying_an_error_while_the_system_is_unreachable_keeps_it_open_and_says_so(
    stocked, monkeypatch
) -> None:
    # An ERP connection to a closed loopback port: the replay's write cannot go through.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNCHUB_ERP",
        '{"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http", "login": "u",'
        ' "password": "p", "extra": {"retry_max_attempts": "1", "timeout": "2"}}',
    )
    client = client_for(stocked, user="erin")
    with stocked() as session:
        letter = session.scalar(select(DeadLetter.id))
    done = client.post(f"/errors/{letter}/replay")
    assert done.status_code == 200
    assert "Replayed 1 by erin: 0 succeeded, 1 still failing." in done.text
    with stocked() as session:
        assert session.get(DeadLetter, letter).status == "open"


def test_record_values_are_escaped_in_the_pages(stocked) -> None:
    with stocked.begin() as session:
        golden = session.get(GoldenRecord, GOLDEN)
        golden.values = {**golden.values, "name": "<script>alert(1)</script>"}
    page = client_for(stocked).get(f"/golden/{GOLDEN}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_review_pair_shows_its_evidence_per_comparison_and_the_model_that_scored_it(stocked) -> None:
    page = client_for(stocked).get(f"/reviews/{review_id(stocked)}")
    assert page.status_code == 200
    assert "Scored by match model v1" in page.text and "on 3 records" in page.text
    evidence = page.text.split('<table class="evidence">', 1)[1].split("</table>", 1)[0]
    assert "<th>name</th>" in evidence and "<th>city</th>" in evidence  # a row per comparison compared
    assert "mueller maschinenbau" in evidence  # both values as the comparison sees them
    assert "Not compared (a value is missing)" in page.text and "vat" in page.text


def test_each_run_links_to_its_airflow_run_page_and_close_run_log(stocked, monkeypatch) -> None:
    run_id = "manual__2026-12-08T01:33:50.106231+00:00"
    with stocked.begin() as session:
        session.scalars(select(Run)).first().external_run_id = run_id
    monkeypatch.setenv("SYNCHUB_AIRFLOW_URL", "https://airflow.example/")
    page = client_for(stocked).get("/")
    quoted = "manual__2026-12-08T01%3A33%3A50.106231%2B00%3A00"
    assert f'href="https://airflow.example/dags/synchub_customer/runs/{quoted}"' in page.text
    assert f'href="https://airflow.example/dags/synchub_customer/runs/{quoted}/tasks/close_run"' in page.text


def test_without_an_airflow_address_runs_have_no_links(stocked, monkeypatch) -> None:
    monkeypatch.delenv("SYNCHUB_AIRFLOW_URL", raising=False)
    page = client_for(stocked).get("/")
    assert "/dags/synchub_customer/runs/" not in page.text
