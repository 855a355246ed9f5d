"""The IVR's own Prometheus series: calls by outcome (containment and abandonment in the IVR),
time in the IVR, calls in the IVR now, CRM dips by result, survey answers, sensitive inputs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TIME_IN_IVR_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class IvrMetrics:
    """Series registered on the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "cc_ivr_calls",
            "Calls that left the IVR, by flow and outcome (self_served is containment; "
            "abandoned: the caller hung up in the IVR).",
            ["flow", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "cc_ivr_time_in_ivr_seconds",
            "Time from the IVR answering to the caller leaving it.",
            ["flow"],
            buckets=TIME_IN_IVR_BUCKETS,
            registry=registry,
        )
        self.active = Gauge("cc_ivr_active_calls", "Calls in the IVR now.", registry=registry)
        self.lookups = Counter(
            "cc_ivr_crm_lookups", "CRM data dips by result.", ["status"], registry=registry
        )
        self.callbacks = Counter(
            "cc_ivr_callback_requests",
            "Callback requests to routing by result (booked; refused, gave_up, not_configured: "
            "the caller stayed in the queue instead).",
            ["result"],
            registry=registry,
        )
        self.surveys = Counter(
            "cc_ivr_survey_answers", "Survey questions answered.", ["question"], registry=registry
        )

        self.sensitive = Counter(
            "cc_ivr_sensitive_inputs",
            "Sensitive collections (card data) by what happened to the call's recording: "
            "paused, unrecorded (no recording in progress) or refused (not paused, not taken).",
            ["result"],
            registry=registry,
        )

    def completed(self, flow: str, outcome: str, seconds: float) -> None:
        """Count a call leaving the IVR."""
        self.calls.labels(flow, outcome).inc()
        self.seconds.labels(flow).observe(seconds)
