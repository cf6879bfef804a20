"""Provisioner metrics exist before the first cloud call (otherwise rate() misses it)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from kaito.provisioner import metrics
from kaito.runtime.metrics import exposition


def test_every_method_and_state_is_exported_from_the_start() -> None:
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(exposition()[0].decode())
        for s in family.samples
    }
    for method in metrics.METHODS:
        assert (
            "kaito_provisioner_cloud_requests_total",
            (("method", method), ("result", "success")),
        ) in samples
        assert (
            "kaito_provisioner_cloud_request_duration_seconds_count",
            (("method", method),),
        ) in samples
        bucket = (("le", "+Inf"), ("method", method))
        assert ("kaito_provisioner_cloud_request_duration_seconds_bucket", bucket) in samples
    for state in metrics.STATES:
        assert ("kaito_provisioner_nodeclaims", (("state", state),)) in samples
