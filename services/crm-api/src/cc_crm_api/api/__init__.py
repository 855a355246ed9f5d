"""The public HTTP API, versioned under /v1."""
