"""Reading a Prometheus exposition the way Prometheus does, for tests of ``/metrics``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(exposition: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(exposition) for s in family.samples]


def value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the sample with exactly these labels, or None when it is not served."""
    found = [s.value for s in samples(exposition) if s.name == name and s.labels == labels]
    return found[0] if found else None
