"""The simulator's pure core: channel model, caller profiles, event composition, dialplan."""
