"""The worker log's text lines: the shortcuts taken on its hot path (a line per job) write
exactly what logging's own formatting and the full escape would."""

from __future__ import annotations

import logging
import re

from hypothesis import given
from hypothesis import strategies as st

from backburner.terminal import printable
from backburner.worker.output import LOG_FORMAT, _PrintableFormatter

# what printable() escapes, written out again here: C0 but tab and newline, DEL, C1, and
# the bidi marks
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escaped(text: str) -> str:
    return UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@given(st.text())
def test_printable_escapes_exactly_the_control_characters_of_any_text(text: str) -> None:
    assert printable(text) == escaped(text)


def test_printable_keeps_other_unprintable_characters_and_escapes_the_rest() -> None:
    text = "a\u00a0b\u2028c\td\ne\x1b[2J\u202e\U0001f600"
    assert printable(text) == "a\u00a0b\u2028c\td\ne\\x1b[2J\\u202e\U0001f600"


def test_the_worker_log_writes_each_time_as_logging_does() -> None:
    ours, stdlib = _PrintableFormatter(LOG_FORMAT), logging.Formatter(LOG_FORMAT)
    base = 1_796_000_000.0
    # within a second, the next ones, one written late by another thread, a day later
    for at in (base + 0.001, base + 0.999, base + 1.0, base + 1.5, base + 0.25, base + 86_400.7):
        record = logging.LogRecord("backburner.worker", 20, "f", 1, "job %s", ("x",), None)
        record.created, record.msecs = at, int((at - int(at)) * 1000) + 0.0
        record.job_id = "-"
        assert ours.formatTime(record) == stdlib.formatTime(record)
        assert ours.format(record) == stdlib.format(record)
        assert ours.formatTime(record, "%H:%M") == stdlib.formatTime(record, "%H:%M")
