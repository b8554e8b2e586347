"""The Grafana dashboard and the Prometheus alerts in examples/ query metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"
EXPORTED = {
    "backburner_jobs_total",
    "backburner_job_duration_seconds_bucket",
    "backburner_job_duration_seconds_sum",
    "backburner_job_duration_seconds_count",
    "backburner_queue_jobs",
    "backburner_queue_oldest_age_seconds",
    "backburner_workers",
}


def names_in(text: str) -> set[str]:
    return set(re.findall(r"\bbackburner_[a-z_]+\b", text))


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((EXAMPLES / "grafana" / "backburner-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*(names_in(e) for e in exprs))
    assert used <= EXPORTED
    assert {"backburner_queue_oldest_age_seconds", "backburner_jobs_total"} <= used


def test_the_three_alerts_query_only_exported_metrics() -> None:
    text = (EXAMPLES / "prometheus" / "alerts.yml").read_text()
    assert re.findall(r"- alert: (\w+)", text) == [
        "BackburnerJobWaitingTooLong",
        "BackburnerHighFailureRate",
        "BackburnerNoLiveWorkers",
    ]
    exprs = " ".join(re.findall(r"expr: (?:\|\n)?((?:.+\n)+?)\s+for:", text))
    assert names_in(exprs) <= EXPORTED
