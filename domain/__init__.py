"""The time bank's business rules: aggregates, events and invariants.

Pure: imports only the standard library and ``eventsourcing.domain``. No I/O.
"""
