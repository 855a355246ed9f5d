"""Adapters between the ivr service's core and the outside world (database, bus, ...)."""
