"""Routing: the skills-based ACD that drives FreeSWITCH, and the outbound dialer."""
