"""Monitoring as code: Prometheus rules and Grafana dashboards for deploy/k8s/monitoring."""
