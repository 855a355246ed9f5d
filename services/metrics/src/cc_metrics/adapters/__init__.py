"""Adapters between the metrics core and the outside world: database, bus, HTTP."""
