"""Partner organisations: keys (bearer), signed postings (RFC 9421), confirmation.

Two blueprints under ``/v1/partners``. ``bp`` is guarded by bearer tokens like
every other resource: an administrator (or the partner itself) registers,
rotates and revokes keys, an administrator narrows the categories, and the
volunteer, the beneficiary or a coordinator confirms or contests a pending
partner credit (confirmed automatically after the window by
``web.sweepers``). ``signed`` carries the partner's own writes; it
authenticates by HTTP message signature instead (``web.signatures``), so it is
mounted without the bearer hook. Views stay load -> one call -> dump; the rows of a
CSV file are read in ``web.partner_rows``.

A signed write answers once per Idempotency-Key: a retry after completion
gets the stored status and body again (``Idempotent-Replayed: true``; its
``log_indexes`` are empty because a replay appends nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import UnsupportedMediaType

from domain.errors import BatchRefused, SignatureRefused
from ledger.access import Action
from ledger.batches import RowResult
from ledger.idempotency import Answer
from ledger.partner_credits import AUTO_CONFIRM_AFTER
from ledger.partners import PartnerDesk
from web.auth import EXTENSION, act, found, permit
from web.partner_rows import credit_record, csv_records, loaded_rows
from web.sweepers import Sweeper
from web.problems import ledger_problem, problem
from web.partner_schemas import (BatchOut, ContestIn, KeyRevocationIn, PartnerBatchIn,
                                 PartnerBatchQuery, PartnerCategoriesIn, PartnerCreditIn,
                                 PartnerKeyIn, PartnerKeyringOut)
from web.schemas import ConfirmIn, TransferOut, body, query, shared
from web.signatures import ACCEPT_SIGNATURE, PARTNERS_EXTENSION, partner_desk, signed_call

SWEEPER_EXTENSION = "civic_ledger.partner_sweeper"
bp = Blueprint("partners", __name__, url_prefix="/v1/partners")
signed = Blueprint("partner_postings", __name__, url_prefix="/v1/partners")
Responder = Callable[[list[RowResult]], tuple[int, dict[str, Any]]]


@signed.record_once
def _install(state: BlueprintSetupState) -> None:
    """One partner desk per app, over the app's time bank (its side tables created),
    and the confirmation sweeper when an interval is configured."""
    app = state.app
    days = app.config.get("PARTNER_AUTO_CONFIRM_DAYS")
    desk = PartnerDesk(app.extensions[EXTENSION], auto_confirm_after=dt.timedelta(
        days=float(days)) if days is not None else AUTO_CONFIRM_AFTER)
    desk.create_tables()
    app.extensions[PARTNERS_EXTENSION] = desk
    interval = app.config.get("PARTNER_CONFIRM_SWEEP_SECONDS",
                              app.config.get("EXPIRY_SWEEP_SECONDS"))
    if interval:
        sweeper = Sweeper("partner-confirmer", desk.credits.auto_confirm, float(interval),
                          app.logger, "confirmed %d pending partner credits")
        app.extensions[SWEEPER_EXTENSION] = sweeper
        app.before_request(sweeper.start)


# -- keys and categories (bearer) -------------------------------------------------------


@bp.get("/<uuid:organisation_id>/keys")
def read_keyring(organisation_id: UUID) -> ResponseReturnValue:
    """The organisation's keys and allowed categories."""
    permit(Action.READ_PARTNER_KEYS, [organisation_id])
    return shared(PartnerKeyringOut).dump(partner_desk().keyring(organisation_id))


@bp.post("/<uuid:organisation_id>/keys")
def add_key(organisation_id: UUID) -> ResponseReturnValue:
    """Trust a public key; with ``replaces``, rotate the old one out in the same step."""
    data = body(shared(PartnerKeyIn))
    permit(Action.MANAGE_PARTNER_KEYS, [organisation_id])
    ring = partner_desk().add_key(organisation_id, data["key_id"], data["public_key"],
                                  replaces=data.get("replaces"), reason=data["reason"])
    return shared(PartnerKeyringOut).dump(ring), 201


@bp.post("/<uuid:organisation_id>/keys/<path:key_id>/revocation")
def revoke_key(organisation_id: UUID, key_id: str) -> ResponseReturnValue:
    """Stop trusting a key; it signs nothing new."""
    data = body(shared(KeyRevocationIn))
    permit(Action.MANAGE_PARTNER_KEYS, [organisation_id])
    ring = partner_desk().revoke_key(organisation_id, key_id, data["reason"])
    return shared(PartnerKeyringOut).dump(ring)


@bp.put("/<uuid:organisation_id>/categories")
def allow_categories(organisation_id: UUID) -> ResponseReturnValue:
    """Restrict the categories the partner may record (empty: any)."""
    data = body(shared(PartnerCategoriesIn))
    permit(Action.SET_PARTNER_CATEGORIES, [organisation_id])
    ring = partner_desk().allow_categories(organisation_id, data["categories"])
    return shared(PartnerKeyringOut).dump(ring)


# -- confirmation (bearer: volunteer, beneficiary or coordinator) ------------------------


@bp.post("/<uuid:organisation_id>/credits/<uuid:credit_id>/confirm")
def confirm_credit(organisation_id: UUID, credit_id: UUID) -> ResponseReturnValue:
    """Post a pending partner credit."""
    acting = _settling(organisation_id, credit_id, body(shared(ConfirmIn)))
    view = partner_desk().credits.confirm(organisation_id, credit_id, actor=acting["actor"],
                                          channel=acting["channel"])
    return shared(TransferOut).dump(view)


@bp.post("/<uuid:organisation_id>/credits/<uuid:credit_id>/contest")
def contest_credit(organisation_id: UUID, credit_id: UUID) -> ResponseReturnValue:
    """Void a pending partner credit with the reason it is contested."""
    data = body(shared(ContestIn))
    acting = _settling(organisation_id, credit_id, data)
    view = partner_desk().credits.contest(organisation_id, credit_id, actor=acting["actor"],
                                          reason=data["reason"])
    return shared(TransferOut).dump(view)


def _settling(organisation_id: UUID, credit_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
    """Who confirms or contests: the volunteer, the beneficiary or a coordinator."""
    parties = found(Action.SETTLE_PARTNER_CREDIT,
                    lambda: partner_desk().credits.parties(organisation_id, credit_id))
    return act(Action.SETTLE_PARTNER_CREDIT, data, parties)


# -- signed postings ------------------------------------------------------------------------


@signed.post("/<uuid:organisation_id>/credits")
def post_credit(organisation_id: UUID) -> ResponseReturnValue:
    """One signed service credit, paid by the organisation in the URL."""
    call = signed_call(organisation_id)
    rows = [credit_record(1, body(shared(PartnerCreditIn)))]
    answer = partner_desk().post(call.claim, call.evidence, rows, atomic=True, single=True,
                                 respond=_one_transfer)
    return _answered(answer)


@signed.post("/<uuid:organisation_id>/batches")
def post_batch(organisation_id: UUID) -> ResponseReturnValue:
    """Up to 1,000 signed service records, as JSON or as a CSV file."""
    call = signed_call(organisation_id)
    if request.mimetype == "text/csv":
        mode = query(shared(PartnerBatchQuery))["mode"]
        records = csv_records(call.body)
    elif request.is_json:
        data = body(shared(PartnerBatchIn))
        mode, records = data["mode"], data["records"]
    else:
        raise UnsupportedMediaType("send application/json or text/csv")
    answer = partner_desk().post(call.claim, call.evidence, loaded_rows(records),
                                 atomic=mode == "atomic", single=False,
                                 respond=_batch_report(mode))
    return _answered(answer)


def _one_transfer(results: list[RowResult]) -> tuple[int, dict[str, Any]]:
    dumped: dict[str, Any] = shared(TransferOut).dump(results[0].transfer)
    return 201, dumped


def _batch_report(mode: str) -> Responder:
    def respond(results: list[RowResult]) -> tuple[int, dict[str, Any]]:
        counts = {o: sum(1 for r in results if r.outcome == o)
                  for o in ("created", "exists", "refused")}
        dumped: dict[str, Any] = shared(BatchOut).dump({
            "mode": mode, "rows": len(results), **counts,
            "results": [r.primitive() for r in results], "log_indexes": []})
        return 200, dumped
    return respond


def _answered(answer: Answer) -> ResponseReturnValue:
    payload = dict(answer.body)
    if not answer.replayed:
        payload["log_indexes"] = list(answer.log_indexes)
    response = current_app.json.response(payload)
    response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@signed.errorhandler(BatchRefused)
def _batch_refused(error: BatchRefused) -> Response:
    return problem(422, rule=error.rule, detail=error.detail, field=error.field,
                   title=(type(error).__doc__ or "").strip().splitlines()[0],
                   results=error.results)


@signed.errorhandler(SignatureRefused)
def _signature_refused(error: SignatureRefused) -> Response:
    response = ledger_problem(error)
    del response.headers["WWW-Authenticate"]
    response.headers["Accept-Signature"] = ACCEPT_SIGNATURE
    return response
