"""An asyncio client for FreeSWITCH's Event Socket (ESL)."""
