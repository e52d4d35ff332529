"""Log lines carry their request or job: text and JSON formats, and the scheduler binding
each job run (a job's own log lines say which job and slot they came from)."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from bot.logctx import ContextFilter, JsonFormatter, bound, current


def _record(message: str) -> logging.LogRecord:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, message, (), None)
    ContextFilter().filter(record)
    return record


def test_json_lines_carry_the_context() -> None:
    with bound("job digest 2026-11-29"):
        record = _record("sent 3 messages")
    doc = json.loads(JsonFormatter().format(record))
    assert doc["context"] == "job digest 2026-11-29"
    assert (doc["level"], doc["logger"], doc["message"]) == ("WARNING", "bot.x", "sent 3 messages")
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None
    assert json.loads(JsonFormatter().format(_record("outside")))["context"] is None


def test_text_lines_name_the_context_after_the_logger() -> None:
    fmt = logging.Formatter("%(name)s%(ctx)s: %(message)s")
    with bound("slack status 1a2b3c4d"):
        assert fmt.format(_record("slow")) == "bot.x [slack status 1a2b3c4d]: slow"
    assert fmt.format(_record("quiet")) == "bot.x: quiet"
    assert current() is None


def test_a_scheduled_job_logs_under_its_job_and_slot(tmp_path: object) -> None:
    from pathlib import Path

    from bot.scheduler.runner import JobRunner
    from tests.scheduler.conftest import Calls, Clock, make_jobs
    from tests.store.conftest import migrated_engine

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot.test.job")
    logger.addHandler(handler)
    seen: list[str | None] = []
    try:
        calls = Calls()
        with migrated_engine("sqlite", Path(str(tmp_path))) as engine:
            jobs = make_jobs(calls)
            clock = Clock(datetime(2026, 11, 29, 8, 0, 5, tzinfo=UTC))
            runner = JobRunner(engine, clock, "A", jobs)
            original = runner.job("digest").run

            def logged(fire: datetime) -> None:
                seen.append(current())
                logger.warning("composing")
                original(fire)

            from dataclasses import replace

            runner._jobs["digest"] = replace(runner.job("digest"), run=logged)
            runner.run_due("digest")
    finally:
        logger.removeHandler(handler)
    assert seen == ["job digest 2026-11-29"]
    assert json.loads(stream.getvalue().splitlines()[0])["context"] == "job digest 2026-11-29"
