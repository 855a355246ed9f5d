"""Adapters between the routing service's core and the outside world (database, bus, ...)."""
