"""Stewardship: the review queue, the error queue and the audit log, on the store and the sandboxes.

The review tests run the customer chain (extract both -> match -> merge) on seeded sandboxes, decide a
pair in the review band and run match and merge again; the error-queue tests make a real write fail
(a value longer than the Salesforce field holds, a sales order SAP refuses), replay it before and after
the fix, and discard one. Every action must leave an audit entry naming who took it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from sqlalchemy import select, update

from mdm import pipeline
from mdm.match.engine import pair_key
from mdm.publish import publish
from mdm.stewardship import audit, errors, review
from mdm.store.deadletter import record_failure
from mdm.store.models import AuditEntry, CanonicalRecord, DeadLetter, GoldenRecord, MatchDecision, Xref
from sandbox.seed import SeedOptions
from tests.conftest import sandbox_connectors as connectors
from tests.mdm import test_prices as price_tests

ENTITY = "customer"
price_seed_dir = price_tests.seed_dir  # fixture: the price tests' seeded data folder
SEED = SeedOptions(seed=11, customers=100, products=3, orders=3)


@cache
def mapping() -> Any:
    return pipeline.load_entity_mapping(ENTITY)


def match_and_merge(store) -> None:
    pipeline.match(ENTITY, sessions=store, mapping=mapping())
    pipeline.merge(ENTITY, sessions=store, mapping=mapping())


def master_data(store) -> None:
    """Extract both systems and match and merge (the quality gate is left out: it is not under test)."""
    for system in ("salesforce", "sap"):
        pipeline.extract(ENTITY, system, sessions=store, connector=connectors()[system], mapping=mapping())
    match_and_merge(store)


def blur_crm_addresses(sandboxes) -> None:
    """Give the CRM accounts that carry neither a VAT id nor a SAP number another address and no phone
    or website: their fuzzy matches with SAP partners drop from auto-link into the review band."""
    accounts = sandboxes.org.query(
        "SELECT Id, VAT_Number__c, SAP_Customer_Number__c FROM Account", include_deleted=False
    )
    for account in accounts:
        if not account.get("VAT_Number__c") and not account.get("SAP_Customer_Number__c"):
            moved = {
                "BillingStreet": "Other Street 99",
                "BillingPostalCode": "99999",
                "Phone": None,
                "Website": None,
            }
            sandboxes.org.update("Account", account["Id"], moved)


def golden_of(store, system: str, key: str) -> str | None:
    with store() as session:
        return session.scalars(
            select(Xref.golden_id).where(Xref.entity == ENTITY, Xref.system == system, Xref.source_key == key)
        ).first()


def review_pairs(store) -> list[review.ReviewItem]:
    """Review pairs whose records are in different golden records now."""
    with store() as session:
        items = review.list_reviews(session, entity=ENTITY)
    apart = [
        i for i in items if i.left_golden_id and i.right_golden_id and i.left_golden_id != i.right_golden_id
    ]
    if len(apart) < 2:
        pytest.skip("the seed gives fewer than two review pairs between different golden records")
    return apart


def audit_actions(store) -> list[tuple[str, str, str]]:
    with store() as session:
        return [(e.actor, e.action, e.target) for e in reversed(audit.recent(session))]


# --- the review queue ---------------------------------------------------------------------------------


def test_an_approved_review_pair_shares_one_golden_record_after_the_next_run(sandbox_factory, store):
    blur_crm_addresses(sandbox_factory(seed=SEED))
    master_data(store)
    pair = review_pairs(store)[0]

    with store.begin() as session:
        decided = review.decide(session, pair.id, "approve", "steward.anna")
    match_and_merge(store)

    assert decided.status == "approved" and decided.decided_by == "steward.anna"
    left = golden_of(store, pair.left_system, pair.left_key)
    assert left is not None and left == golden_of(store, pair.right_system, pair.right_key)
    with store() as session:
        golden = session.get(GoldenRecord, left)
        assert golden is not None and golden.status == "active"
        assert session.get(MatchDecision, pair.id).status == "approved"
    assert ("steward.anna", "review.approve", f"match_decision:{pair.id}") in audit_actions(store)


def test_a_rejected_review_pair_stays_apart_run_after_run(sandbox_factory, store):
    blur_crm_addresses(sandbox_factory(seed=SEED))
    master_data(store)
    pair = review_pairs(store)[0]

    with store.begin() as session:
        review.decide(session, pair.id, "reject", "steward.ben")
    match_and_merge(store)
    master_data(store)  # extract again: unchanged records keep the rejection

    assert golden_of(store, pair.left_system, pair.left_key) != golden_of(
        store, pair.right_system, pair.right_key
    )
    with store() as session:
        row = session.get(MatchDecision, pair.id)
        assert (row.status, row.decided_by) == ("rejected", "steward.ben")
        assert pair.id not in {i.id for i in review.list_reviews(session, entity=ENTITY)}
    assert ("steward.ben", "review.reject", f"match_decision:{pair.id}") in audit_actions(store)


def test_a_review_pair_shows_both_records_side_by_side_with_evidence_and_golden_records(
    sandbox_factory, store
):
    blur_crm_addresses(sandbox_factory(seed=SEED))
    master_data(store)
    pair = review_pairs(store)[0]

    with store() as session:
        detail = review.get_review(session, pair.id)

    assert detail.left_values and detail.right_values
    assert "name" in detail.fields and set(detail.differing) <= set(detail.fields)
    assert detail.evidence and detail.item.score == pair.score
    assert detail.left_golden and detail.left_golden["id"] == pair.left_golden_id
    assert detail.right_golden and detail.right_golden["id"] == pair.right_golden_id


def _decision_pair(store) -> int:
    """A review pair over two stored canonical records (no sandbox needed)."""
    with store.begin() as session:
        for system, key in (("salesforce", "001A"), ("sap", "1000001")):
            session.add(
                CanonicalRecord(
                    system=system,
                    entity=ENTITY,
                    source_key=key,
                    values={"name": f"ACME {system}"},
                    values_hash=f"hash-{key}",
                )
            )
        (ls, lk), (rs, rk) = pair_key(("salesforce", "001A"), ("sap", "1000001"))
        row = MatchDecision(
            entity=ENTITY,
            left_system=ls,
            left_key=lk,
            right_system=rs,
            right_key=rk,
            score=0.6,
            rule="fuzzy",
            evidence={"name": 0.8},
            status="review",
            left_hash="old",
            right_hash="old",
        )
        session.add(row)
        session.flush()
        return row.id


def test_a_decision_keeps_the_records_current_hashes(store):
    decision_id = _decision_pair(store)

    with store.begin() as session:
        review.decide(session, decision_id, "new", "steward.cleo")

    with store() as session:
        row = session.get(MatchDecision, decision_id)
        assert (row.status, row.decided_by) == ("new", "steward.cleo")
        assert {row.left_hash, row.right_hash} == {"hash-001A", "hash-1000001"}
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.action, entry.details["status"]) == ("review.new", "new")


def test_deciding_an_unknown_pair_or_one_no_longer_in_review_is_refused(store):
    decision_id = _decision_pair(store)
    with store.begin() as session:
        review.decide(session, decision_id, "approve", "steward.dan")

    with store.begin() as session, pytest.raises(LookupError, match="no match decision 999"):
        review.decide(session, 999, "approve", "steward.dan")
    with store.begin() as session, pytest.raises(ValueError, match="not in review"):
        review.decide(session, decision_id, "reject", "steward.dan")
    with store() as session:
        assert len(audit.recent(session)) == 1


# --- the error queue ----------------------------------------------------------------------------------


def break_golden(store) -> tuple[str, str]:
    """A golden customer with a value the Salesforce field cannot hold: (golden id, its good value)."""
    with store.begin() as session:
        golden = session.scalars(
            select(GoldenRecord).where(GoldenRecord.entity == ENTITY).order_by(GoldenRecord.id).limit(1)
        ).one()
        good = golden.values.get("erp_customer_number")
        golden.values = {**golden.values, "erp_customer_number": "12345678901234"}  # 10 characters fit
        return golden.id, good


def fix_golden(store, golden_id: str, value: str | None) -> None:
    with store.begin() as session:
        golden = session.get(GoldenRecord, golden_id)
        golden.values = {**golden.values, "erp_customer_number": value}


def letters(store, **where: Any) -> list[DeadLetter]:
    with store() as session:
        query = select(DeadLetter)
        for name, value in where.items():
            query = query.where(getattr(DeadLetter, name) == value)
        return list(session.scalars(query.order_by(DeadLetter.id)))


def test_a_failed_publish_lands_in_the_error_queue_and_replay_resolves_it_once_fixed(sandbox_factory, store):
    sandbox_factory(seed=SEED)
    master_data(store)
    golden_id, good = break_golden(store)
    publish(ENTITY, "salesforce", sessions=store, connector=connectors()["salesforce"], mapping=mapping())

    [letter] = letters(store, entity=ENTITY, status="open")
    assert (letter.system, letter.record_key, letter.code) == ("salesforce", golden_id, "STRING_TOO_LONG")
    assert letter.operation in ("create", "update") and letter.payload
    with store() as session:
        shown = errors.get_error(session, letter.id)
    assert shown.message and shown.attempts == 1 and shown.status == "open"

    before = errors.replay(store, [letter.id], "admin.eve", connectors=connectors())
    assert [(r.letter_id, r.status, r.code) for r in before] == [(letter.id, "failing", "STRING_TOO_LONG")]
    assert "max length" in (before[0].message or "")

    fix_golden(store, golden_id, good)
    after = errors.replay(store, [letter.id], "admin.eve", connectors=connectors())

    assert [(r.letter_id, r.status) for r in after] == [(letter.id, "resolved")]
    [done] = letters(store, id=letter.id)
    assert (done.status, done.resolved_by, done.attempts) == ("resolved", "admin.eve", 2)
    replays = [a for a in audit_actions(store) if a[1] == "errors.replay"]
    assert replays == [("admin.eve", "errors.replay", f"dead_letter:{letter.id}")] * 2


def test_the_next_scheduled_publish_resolves_a_letter_whose_write_goes_through(sandbox_factory, store):
    sandbox_factory(seed=SEED)
    master_data(store)
    golden_id, good = break_golden(store)
    publish(ENTITY, "salesforce", sessions=store, connector=connectors()["salesforce"], mapping=mapping())
    fix_golden(store, golden_id, good)

    publish(ENTITY, "salesforce", sessions=store, connector=connectors()["salesforce"], mapping=mapping())

    [letter] = letters(store, record_key=golden_id)
    assert (letter.status, letter.resolved_by) == ("resolved", "synchub")


def test_publish_only_writes_the_golden_ids_it_is_given(sandbox_factory, store):
    sandbox_factory(seed=SEED)
    master_data(store)
    with store() as session:
        some = set(session.scalars(select(GoldenRecord.id).order_by(GoldenRecord.id).limit(3)))

    stats = publish(
        ENTITY,
        "salesforce",
        sessions=store,
        connector=connectors()["salesforce"],
        mapping=mapping(),
        only=some,
    )

    assert stats["golden"] == len(some)
    assert stats["created"] + stats["updated"] + stats["unchanged"] >= 1


def test_an_order_sap_refused_is_sent_again_by_a_replay_even_though_it_did_not_change(sandbox_factory, store):
    from mdm.orders import push_orders
    from mdm.store.models import OrderSync

    sandboxes = sandbox_factory(seed=SeedOptions(seed=42, customers=40, products=20, orders=20))
    for entity in ("customer", "product"):
        for system in ("salesforce", "sap"):
            pipeline.extract(entity, system, sessions=store, connector=connectors()[system])
        pipeline.match(entity, sessions=store)
        pipeline.merge(entity, sessions=store)
        for system in ("sap", "salesforce"):
            publish(entity, system, sessions=store, connector=connectors()[system])
    crm = {
        o["Id"]: o
        for o in sandboxes.org.query("SELECT Id, Status, StatusCode FROM Order", include_deleted=False)
    }
    for order in crm.values():
        if order["StatusCode"] == "Activated":
            items = sandboxes.org.query(
                f"SELECT Id FROM OrderItem WHERE OrderId = '{order['Id']}'", include_deleted=False
            )
            if items:
                crm_id, item = order["Id"], items[0]["Id"]
                break
    else:
        pytest.skip("the seed has no activated order with items")
    sandboxes.org.update("OrderItem", item, {"Quantity": 0})  # SAP refuses a quantity of 0
    for system in ("salesforce", "sap"):
        pipeline.extract("order", system, sessions=store, connector=connectors()[system])
    push_orders(sessions=store, connector=connectors()["sap"])
    [letter] = letters(store, entity="order", record_key=crm_id)
    assert letter.status == "open"

    failing = errors.replay(store, [letter.id], "admin.finn", connectors=connectors())
    assert failing[0].status == "failing" and "RequestedQuantity" in (failing[0].message or "")
    with store() as session:
        assert session.get(OrderSync, crm_id).attempts == 2  # sent again, unchanged

    sandboxes.org.update("OrderItem", item, {"Quantity": 3})
    pipeline.extract("order", "salesforce", sessions=store, connector=connectors()["salesforce"])
    with store.begin() as session:  # as if the CRM change had not been noticed yet: only the replay sends
        session.execute(update(OrderSync).where(OrderSync.crm_order_id == crm_id).values(payload_hash=None))
    resolved = errors.replay(store, None, "admin.finn", connectors=connectors())

    assert [(r.letter_id, r.status) for r in resolved if r.letter_id == letter.id] == [
        (letter.id, "resolved")
    ]
    with store() as session:
        assert session.get(OrderSync, crm_id).state == "created"
    assert letters(store, id=letter.id)[0].resolved_by == "admin.finn"


def _letter(store, **overrides: Any) -> int:
    values = {
        "entity": ENTITY,
        "system": "salesforce",
        "operation": "update",
        "record_key": "G-1",
        "code": "STRING_TOO_LONG",
        "message": "SAP_Customer_Number__c: data value too large",
        "payload": {"SAP_Customer_Number__c": "12345678901234"},
    } | overrides
    with store.begin() as session:
        return record_failure(session, **values).id


def test_a_discard_keeps_the_reason_and_who_decided_and_is_audited(store):
    letter_id = _letter(store)

    with store.begin() as session:
        item = errors.discard(session, letter_id, "number fixed by hand in the CRM", "admin.gus")

    assert (item.status, item.note, item.resolved_by) == (
        "discarded",
        "number fixed by hand in the CRM",
        "admin.gus",
    )
    with store() as session:
        [entry] = audit.recent(session)
        assert (entry.actor, entry.action, entry.target) == (
            "admin.gus",
            "errors.discard",
            f"dead_letter:{letter_id}",
        )
        assert errors.list_errors(session) == []
        assert [i.id for i in errors.list_errors(session, status="discarded")] == [letter_id]


def test_a_discarded_write_failing_again_alike_stays_discarded_and_a_new_payload_reopens_it(store):
    letter_id = _letter(store)
    with store.begin() as session:
        errors.discard(session, letter_id, "known problem", "admin.gus")

    _letter(store)
    assert letters(store, id=letter_id)[0].status == "discarded"
    _letter(store, payload={"SAP_Customer_Number__c": "99999999999999"})
    assert letters(store, id=letter_id)[0].status == "open"


def test_discard_and_replay_refuse_unknown_or_closed_letters(store):
    letter_id = _letter(store)
    with store.begin() as session:
        errors.discard(session, letter_id, "known problem", "admin.gus")

    with store.begin() as session, pytest.raises(LookupError, match="no dead letter 999"):
        errors.discard(session, 999, "why", "admin.gus")
    with store.begin() as session, pytest.raises(ValueError, match="not open"):
        errors.discard(session, letter_id, "again", "admin.gus")
    with store.begin() as session, pytest.raises(ValueError, match="reason"):
        errors.discard(session, letter_id, "  ", "admin.gus")
    with pytest.raises(ValueError, match="not open"):
        errors.replay(store, [letter_id], "admin.gus")
    with pytest.raises(LookupError):
        errors.replay(store, [999], "admin.gus")


def test_a_replay_whose_step_fails_as_a_whole_reports_still_failing_with_the_error(store):
    letter_id = _letter(store, entity="widget")

    [result] = errors.replay(store, None, "admin.hal")

    assert (result.status, result.letter_id) == ("failing", letter_id)
    assert "no entity 'widget'" in (result.message or "")  # and which entities are declared
    assert letters(store, id=letter_id)[0].status == "open"
    assert audit_actions(store) == [("admin.hal", "errors.replay", f"dead_letter:{letter_id}")]


def test_an_audit_entry_needs_an_actor(store):
    with store.begin() as session, pytest.raises(ValueError, match="actor"):
        audit.record(session, " ", "review.approve", "match_decision:1")


# --- the command line ---------------------------------------------------------------------------------


def cli(*args: str):
    from typer.testing import CliRunner

    from mdm.cli import app

    return CliRunner().invoke(app, list(args))


def test_review_commands_list_show_and_decide_with_the_actor(store):
    decision_id = _decision_pair(store)

    listed = cli("review", "list", "--entity", ENTITY)
    shown = cli("review", "show", str(decision_id))
    approved = cli("review", "approve", str(decision_id), "--by", "steward.ivy")
    again = cli("review", "reject", str(decision_id), "--by", "steward.ivy")

    assert listed.exit_code == 0 and "001A" in listed.output and "0.600" in listed.output
    assert shown.exit_code == 0 and "ACME salesforce" in shown.output and "ACME sap" in shown.output
    assert approved.exit_code == 0 and "approved by steward.ivy" in approved.output
    assert again.exit_code == 2 and "not in review" in again.output
    assert audit_actions(store) == [("steward.ivy", "review.approve", f"match_decision:{decision_id}")]


def test_review_commands_default_the_actor_to_the_os_user(store, monkeypatch):
    decision_id = _decision_pair(store)
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")

    result = cli("review", "new", str(decision_id))

    assert result.exit_code == 0, result.output
    assert audit_actions(store) == [("os-user", "review.new", f"match_decision:{decision_id}")]


def test_an_unknown_id_is_bad_input(store):
    for command in (("review", "show", "42"), ("review", "approve", "42"), ("errors", "show", "42")):
        result = cli(*command)
        assert result.exit_code == 2, command
        assert "42" in result.output
    assert cli("errors", "replay", "42").exit_code == 2
    assert cli("errors", "discard", "42", "--reason", "x").exit_code == 2
    assert cli("errors", "replay").exit_code == 2  # neither ids nor --all


def test_errors_commands_list_show_and_discard(store):
    letter_id = _letter(store)

    listed = cli("errors", "list")
    shown = cli("errors", "show", str(letter_id))
    discarded = cli("errors", "discard", str(letter_id), "--reason", "fixed by hand", "--by", "admin.jo")
    after = cli("errors", "list", "--status", "discarded")

    assert listed.exit_code == 0 and "G-1" in listed.output
    assert shown.exit_code == 0 and "SAP_Customer_Number__c" in shown.output and "attempts" in shown.output
    assert discarded.exit_code == 0 and "discarded by admin.jo" in discarded.output
    assert after.exit_code == 0 and "G-1" in after.output
    assert letters(store, id=letter_id)[0].note == "fixed by hand"


def test_a_replay_still_failing_exits_1(store):
    _letter(store, entity="widget")

    result = cli("errors", "replay", "--all", "--by", "admin.kim")

    assert result.exit_code == 1
    assert "still failing" in result.output and "0 resolved, 1 still failing" in result.output


def test_replaying_all_with_nothing_open_does_nothing(store):
    result = cli("errors", "replay", "--all")

    assert result.exit_code == 0 and "no open dead letters" in result.output


def test_price_entries_salesforce_refused_are_resolved_by_a_replay_once_the_cause_is_gone(
    store, sandbox_factory, price_seed_dir
):
    TODAY, crm_products, sap_prices = price_tests.TODAY, price_tests.crm_products, price_tests.sap_prices
    product_mapping, run_prices, sync_products = (
        price_tests.product_mapping,
        price_tests.run_prices,
        price_tests.sync_products,
    )

    sandboxes = sandbox_factory(data_dir=price_seed_dir[0])
    sync_products(store)
    products = crm_products(store, sandboxes)
    material = next(
        m for (m, area) in sorted(sap_prices(sandboxes, TODAY)) if area[2] == "USD" and m in products
    )
    sandboxes.org.delete("Product2", products[material])  # someone deletes it after the product sync
    run_prices(store)

    refused = letters(store, entity="price", status="open")
    assert refused and all(products[material] in letter.record_key for letter in refused)
    assert all(letter.code and letter.payload for letter in refused)
    failing = errors.replay(store, None, "admin.lou", connectors=connectors())
    assert {r.status for r in failing} == {"failing"} and all(r.code for r in failing)

    # The product sync notices the deletion: the product's prices are no longer wanted in Salesforce.
    pipeline.extract(
        "product",
        "salesforce",
        sessions=store,
        connector=connectors()["salesforce"],
        mapping=product_mapping(),
    )
    resolved = errors.replay(store, None, "admin.lou", connectors=connectors())

    assert [r.letter_id for r in resolved] == [letter.id for letter in refused]
    assert {r.status for r in resolved} == {"resolved"}
    assert {letter.resolved_by for letter in letters(store, entity="price")} == {"admin.lou"}


def test_two_refused_copies_of_one_golden_record_are_one_entry_with_one_attempt(sandbox_factory, store):
    from sqlalchemy import func

    from mdm.store.models import Xref

    sandbox_factory(seed=SEED)
    master_data(store)
    with store.begin() as session:
        golden_id = session.scalars(
            select(Xref.golden_id)
            .where(Xref.entity == ENTITY, Xref.system == "salesforce")
            .group_by(Xref.golden_id)
            .having(func.count() > 1)
            .order_by(Xref.golden_id)
            .limit(1)
        ).first()
        if golden_id is None:
            pytest.fail("the seed has no golden customer with two CRM accounts")
        golden = session.get(GoldenRecord, golden_id)
        golden.values = {**golden.values, "erp_customer_number": "12345678901234"}  # 10 characters fit

    stats = publish(
        ENTITY, "salesforce", sessions=store, connector=connectors()["salesforce"], mapping=mapping()
    )

    assert stats["failed"] == 2  # both accounts refused the value
    [letter] = letters(store, entity=ENTITY, status="open")
    assert (letter.record_key, letter.code, letter.attempts) == (golden_id, "STRING_TOO_LONG", 1)
