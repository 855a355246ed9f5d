"""The crm-api's pure domain: keys and scopes, rate limits, event views, webhook rules (no I/O)."""
