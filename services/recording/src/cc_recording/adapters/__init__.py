"""Adapters between the recording service's core and the outside world (database, bus, ...)."""
