"""After random command sequences every read model equals a rebuild from zero, and its
balances equal the aggregates'."""

from __future__ import annotations

import os
from typing import Any
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.storage import Database
from projections.folds import PROJECTIONS
from projections.queries import ReadModels

step = st.tuples(st.sampled_from(["credit", "pending", "confirm", "void", "gift", "redeem",
                                  "donate", "reverse", "budget", "read"]),
                 st.integers(0, 3), st.integers(0, 3), st.integers(1, 600))


def snapshot(models: ReadModels) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row in a stable order."""
    return {t.name: models.views.query(f"SELECT * FROM {{p}}{t.name} ORDER BY "
                                       f"{', '.join(t.keys)}")
            for p in PROJECTIONS for t in p.tables}


def run(bank: TimeBank, models: ReadModels, steps: list[tuple[str, int, int, int]]) -> list:
    """Apply the steps, reading (and so catching up) now and then."""
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=2000).id
    members = [bank.open_member(community["id"]).id for _ in range(4)]
    done: list[Any] = []
    for action, i, j, minutes in steps:
        a, b = members[i], members[j]
        try:
            if action in ("credit", "pending"):
                done.append(bank.record(TransferRequest(
                    uuid4(), "service_credit", org, a, minutes, "care", f"2026-11-0{i + 1}",
                    action == "pending", "staff:p", None, "api")))
            elif action in ("confirm", "void", "reverse") and done:
                target = done[minutes % len(done)].id
                if action == "confirm":
                    bank.confirm(target, actor="staff:p", channel="api")
                elif action == "void":
                    bank.void(target, actor="staff:p")
                else:
                    bank.reverse(target, actor="admin:p", channel="api")
            elif action in ("gift", "redeem", "donate"):
                kind = {"gift": "gift", "redeem": "redemption", "donate": "donation"}[action]
                credit = {"gift": b, "redeem": org, "donate": community["pool_account"]}[action]
                done.append(bank.record(TransferRequest(uuid4(), kind, a, credit, minutes,
                                                        "care", "2026-11-05", False,
                                                        "member:p", None, "api")))
            elif action == "budget":
                bank.set_budget(org, minutes * 5)
            else:
                models.account(a)
        except DomainError:
            pass
    return [org, *members, community["pool_account"], community["issuance_account"]]


@settings(max_examples=30, deadline=None)
@given(st.lists(step, max_size=30))
def test_read_models_equal_a_rebuild_and_the_aggregates(steps):
    bank = TimeBank(Database.parse("memory://"), os.urandom(32))
    models = ReadModels(bank)
    accounts = run(bank, models, steps)
    models.fresh()
    for account_id in accounts:
        view, aggregate = models.account(account_id), bank.account(account_id)
        assert (view["balance"], view["pending_in"], view["pending_out"]) == (
            aggregate.balance, aggregate.pending_in, aggregate.pending_out)
    live = snapshot(models)
    models.projector.rebuild()
    assert snapshot(models) == live
    bank.close()
