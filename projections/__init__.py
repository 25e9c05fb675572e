"""Read models: pure folds over the event log plus thin stores with a tracking position.

The foundation serves balances and history straight from the account
aggregates (cached, snapshotted); the read-model work adds folds here.
"""
