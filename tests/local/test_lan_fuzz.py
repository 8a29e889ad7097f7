"""Every LAN route fuzzed by schemathesis against the box's own /openapi.json.

The fuzzer runs in its own process against the box's real hypercorn server on loopback, with
every check it has (tests/local/schemathesis.toml says which answers a route may give instead and
why): no 5xx, and every answer has a documented status code, content type, headers and body
schema. `bench/fuzz.py` runs the same with a far larger budget and prints its figures.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from edgebox.runtime import wiring
from tests.conftest import ADMIN_TOKEN

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The quick run of `make test`: the coverage phase (boundary and wrong-type values of every
# field, systematically) on every route but the four that take an LED item, whose schema
# alone yields ~700 such cases each; those get random cases instead. bench/fuzz.py runs all.
QUICK = """
[[operations]]
include-operation-id-regex = "{item_routes}"
phases.coverage.enabled = false

[[operations]]
exclude-operation-id-regex = "{item_routes}"
phases.fuzzing.enabled = false
""".format(item_routes=r"^led\\.(create_item|update_item|start_preview|update_preview)\\.")


def fuzz_command(base: str, report: Path, config: Path, *, seed: int, examples: int) -> list[str]:
    """`st run` against a box at `base`, with the report as JSON at `report`."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--seed",
        str(seed),
        "--max-examples",
        str(examples),
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]


def summary(report: dict[str, Any], output: bytes) -> str:
    tail = output.decode(errors="replace")[-6000:]
    return json.dumps(report.get("failures"), indent=1) + json.dumps(report.get("errors")) + tail


async def test_every_lan_route_answers_the_fuzzer_as_documented_and_never_with_a_5xx(
    box: wiring.Box, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report_path, config = tmp_path / "fuzz.json", tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text() + QUICK)
    command = fuzz_command(box.lan_urls[0], report_path, config, seed=7, examples=5)
    with caplog.at_level(logging.ERROR, logger="edgebox"), trio.fail_after(240):
        done = await trio.run_process(command, capture_stdout=True, stderr=sys.stderr, check=False)
    report = json.loads(report_path.read_text())
    assert report["failures"] == [] and report["errors"] == [], summary(report, done.stdout)
    assert done.returncode == 0, summary(report, done.stdout)
    assert report["complete"] and report["stop_reason"] == "completed"
    operations = report["operations"]
    assert operations["tested"] == operations["total"] >= 50
    assert report["test_cases"]["generated"] >= 1000
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
