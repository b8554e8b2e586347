"""bench/RESULTS.md: a run of the peer harness rewrites its own part and keeps the
sections other benchmarks wrote after it."""

from __future__ import annotations

from bench import report


def _render(kept: str) -> str:
    return report.render(
        command="python -m bench",
        date="2026-12-01 03:00 UTC",
        source="abc1234",
        machine={"cores": "2"},
        versions={"python": "3.11"},
        plan={"jobs": 10, "latency": 5, "pause": 0.02},
        rounds=1,
        contenders=[],
        outcomes=[],
        kept=kept,
    )


def test_a_new_run_keeps_the_other_measurements_of_the_last_one() -> None:
    other = f"{report.KEPT}\n\n### Scale\n\n| store | ratio |\n| --- | --- |\n| sqlite | 0.9x |\n"
    first = _render(other)
    assert first.endswith(other)
    second = _render(report.kept_part(first))
    assert second.count(report.KEPT) == 2  # the heading, and the header naming it
    assert second.endswith(other)
    assert report.kept_part(second) == other


def test_a_results_file_without_other_measurements_keeps_nothing() -> None:
    text = _render("")
    assert report.kept_part(text) == ""
    assert report.kept_part("## Figures\n\nsomething\n") == ""
