"""The metrics service's HTTP API: reports, call detail records, staffing, workforce inputs."""
