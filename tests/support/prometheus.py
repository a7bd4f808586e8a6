"""Read a server's Prometheus counters."""

from __future__ import annotations

from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families


def decisions_by_outcome(client: httpx.Client, base_url: str) -> Counter[str]:
    """`lrhub_decisions_total` of the server at `base_url`, by outcome."""
    totals: Counter[str] = Counter()
    response = client.get(f"{base_url}/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "lrhub_decisions_total":
                totals[sample.labels["outcome"]] += int(sample.value)
    return totals
