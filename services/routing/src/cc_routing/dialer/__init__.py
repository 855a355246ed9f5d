"""The outbound dialer's pure core: pacing, campaigns, lists and compliance (no I/O, no clock)."""

from cc_routing.dialer.pacing import DialMode, Pacer, PacingSettings, PacingState

__all__ = ["DialMode", "Pacer", "PacingSettings", "PacingState"]
