"""IVR: flows as data on FreeSWITCH's outbound socket, CRM data dips, post-call surveys."""
