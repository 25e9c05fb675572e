"""A mediation agreement as a printable HTML page that a court or a party can check.

The page carries what makes the paper copy checkable against the permanent
record: the SHA-256 of the agreement text (of its exact UTF-8 bytes), the
SHA-256 of the sealed text every signature event names, and the log index of
the draft, of each party's mark, of the mediator's signature and of the event
that made the agreement effective. With those, anyone holding the log (or an
inclusion proof from ``/v1/log/proofs/inclusion``) can confirm that the
agreement was recorded, by whom it was marked, and that its text is the one
printed. Everything is escaped; the page loads nothing from anywhere.
"""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = ("body{font-family:serif;max-width:46em;margin:2em auto;line-height:1.45}"
         "table{border-collapse:collapse;width:100%;margin:.5em 0 1.2em}"
         "td,th{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}"
         "pre{white-space:pre-wrap;border:1px solid #999;padding:1em}"
         "code{font-size:.85em;word-break:break-all}.withheld{color:#555;font-style:italic}"
         "@media print{a{color:inherit;text-decoration:none}}")


def render_agreement(case: dict[str, Any], log: dict[str, Any]) -> str:
    """The page for ``case`` (a case view) and ``log`` (its agreement's log indexes)."""
    agreement = case["agreement"] or {}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Mediation agreement {_e(case['case_number'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>People's mediation agreement</h1>",
        _table([("Case number", case["case_number"]), ("Committee", case["committee"]),
                ("Dispute", case["dispute_type"].replace("_", " ")),
                ("Hearing", case["hearing"]), ("Form", agreement.get("form")),
                ("Status", case["status"].replace("_", " ")),
                ("Effective on", case["effective_on"] or "not yet effective"),
                ("Judicial confirmation: apply jointly by",
                 case["confirmation_deadline"] or "-")]),
        "<h2>Parties</h2>", _parties(case), "<h2>Terms</h2>", _terms(case),
        "<h2>Text of the agreement</h2>", _text(agreement),
        "<h2>Marks and signatures</h2>", _marks(case, log),
        "<h2>Checking this document</h2>", _record(case, agreement, log),
        "</body></html>"]
    return "\n".join(parts)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] = ()) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    lines = []
    for row in rows:
        cells = [f"<td>{_e(value)}</td>" for value in row]
        if not header:  # a key-value table: the first cell names the row
            cells[0] = f"<th>{_e(row[0])}</th>"
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(lines)}</table>"


def _parties(case: dict[str, Any]) -> str:
    rows = []
    for party in case["parties"]:
        details = party.get("details")
        name = (details or {}).get("display_name") if "details" in party else None
        shown = name or ("(erased)" if "details" in party and details is None else "")
        rows.append((party["id"], party["kind"].replace("_", "-"), shown))
    return _table(rows, ("Party id", "Kind", "Name"))


def _terms(case: dict[str, Any]) -> str:
    rows = []
    for term in case["terms"]:
        when = term["deadline"] or _recurrence(term["recurrence"])
        service = term["community_service_minutes"]
        what = term["description"] + (f" ({service} minutes of community service)"
                                      if service else "")
        rows.append((term["term_id"], term["obligor"], term["beneficiary"], what,
                     term["method"], term["place"] or "-", when))
    return _table(rows, ("Term", "Obligor", "Beneficiary", "Obligation", "Method", "Place",
                         "By / when"))


def _recurrence(recurrence: dict[str, Any] | None) -> str:
    if not recurrence:
        return "-"
    days = ", ".join(recurrence.get("days", [])) or "every day"
    until = f" until {recurrence['until']}" if recurrence.get("until") else ""
    return f"{days}, {recurrence['from']}-{recurrence['to']}{until}"


def _text(agreement: dict[str, Any]) -> str:
    if "text" not in agreement:
        return ('<p class="withheld">The text is withheld: your role may not read '
                "personal data. Its SHA-256 is given below.</p>")
    if agreement["text"] is None:
        return '<p class="withheld">The text was erased. Its SHA-256 is given below.</p>'
    return f"<pre>{_e(agreement['text'])}</pre>"


def _marks(case: dict[str, Any], log: dict[str, Any]) -> str:
    rows = [(m["party"], m["mark"], m["recorded_by"], m["signed_on"],
             log["parties"].get(m["party"], "-"))
            for m in case["signatures"]["parties"]]
    mediator = case["signatures"]["mediator"]
    if mediator is not None:
        rows.append(("mediator", "signature", mediator["mediator"], mediator["signed_on"],
                     log["mediator"] if log["mediator"] is not None else "-"))
    return _table(rows, ("Who", "Mark", "Recorded by", "On", "Log index"))


def _record(case: dict[str, Any], agreement: dict[str, Any], log: dict[str, Any]) -> str:
    rows = [("SHA-256 of the agreement text (UTF-8)", agreement.get("text_sha256")),
            ("SHA-256 of the sealed text the marks name", agreement.get("sealed_sha256")),
            ("Log index: agreement drafted", log["drafted"]),
            ("Log index: agreement effective", log["reached"] if log["reached"] is not None
             else "not yet effective"),
            ("Case id", case["id"])]
    how = ("<p>To check a copy: compute the SHA-256 of its text exactly as written (UTF-8, "
           "no changes) and compare it with the first hash. The log entry at the "
           "'agreement drafted' index holds the sealed text, which begins "
           "<code>sealed:v1:&lt;that hash&gt;:</code>; each mark's entry names the second "
           "hash. Ask the ledger for an inclusion proof of each index "
           "(<code>/v1/log/proofs/inclusion</code>) against a signed checkpoint.</p>")
    return _table(rows) + how
