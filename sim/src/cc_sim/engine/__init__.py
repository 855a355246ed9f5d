"""The simulated switch: sessions, applications, API commands and originate."""
