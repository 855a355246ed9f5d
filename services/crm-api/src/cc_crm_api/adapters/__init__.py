"""Adapters between the crm-api service's core and the outside world (database, bus, ...)."""
