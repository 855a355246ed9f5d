"""The metrics domain: KPI definitions, interval facts, call records, staffing. No I/O here."""
