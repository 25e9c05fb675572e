"""Application services over the event store: the only code that loads and saves."""
