"""Every LAN route fuzzed at length: `edgebox run` in its own process, schemathesis against its
/openapi.json with every phase (examples, coverage, fuzzing, stateful) and every check, as
tests/local/schemathesis.toml configures them. Prints cases run, failures by kind, 5xx answers,
errors the box logged, and the box's CPU time and RSS.

    .venv/bin/python bench/fuzz.py [--examples 100] [--seed 1] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.net import free_port  # noqa: E402
from tests.support.venues import offline_venue  # noqa: E402

CONFIG = ROOT / "tests" / "local" / "schemathesis.toml"
TOKEN = "fuzz-admin-token"


def cpu_and_rss(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = next(
        int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return ticks / 100, rss


def wait_until_serving(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(examples: int, seed: int, workers: int) -> int:
    with tempfile.TemporaryDirectory(prefix="edgebox-fuzz-") as tmp:
        port = free_port()
        venue = Path(tmp) / "venue.toml"
        venue.write_text(offline_venue("fuzz", Path(tmp) / "data", port, admin_token=TOKEN))
        log = Path(tmp) / "box.log"
        base = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            box = subprocess.Popen(
                [sys.executable, "-m", "edgebox", "run", "--config", str(venue)], stderr=out
            )
        try:
            wait_until_serving(base)
            report = Path(tmp) / "report.json"
            command = [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--seed",
                str(seed),
                "--max-examples",
                str(examples),
                "--workers",
                str(workers),
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ]
            began = time.monotonic()
            run = subprocess.run(command, capture_output=True, text=True, check=False)
            elapsed = time.monotonic() - began
            cpu, rss = cpu_and_rss(box.pid)
        finally:
            box.terminate()
            box.wait(timeout=10)
        result = json.loads(report.read_text())
        logged = [line for line in log.read_text().splitlines() if " ERROR " in line]
    cases = result["test_cases"]
    ops = result["operations"]
    server_errors = sum(f["count"] for f in result["failures"] if f["code"] == "ST101")
    print(f"schemathesis {result['schemathesis_version']}, seed {seed}, {examples} examples/op")
    phases = ", ".join(f"{name} {phase['status']}" for name, phase in result["phases"].items())
    print(f"operations {ops['tested']}/{ops['total']} tested; phases {phases}")
    print(
        f"cases {cases['generated']} generated, {cases['with_failures']} with failures,"
        f" {cases['errored']} errored, in {elapsed:.1f} s ({cases['generated'] / elapsed:.0f}/s)"
    )
    print(f"5xx answers {server_errors}; errors the box logged {len(logged)}")
    for failure in result["failures"]:
        print(f"  {failure['code']} {failure['title']}: {failure['count']} {failure['operations']}")
    for error in result["errors"]:
        print(f"  error: {json.dumps(error)[:300]}")
    for line in logged[:10]:
        print(f"  box: {line}")
    print(f"box CPU {cpu:.1f} s, RSS {rss:.0f} MiB at the end")
    if run.returncode != 0:
        found = run.stdout.find("=== ERRORS ===")
        found = run.stdout.find("=== FAILURES ===") if found < 0 else found
        print(run.stdout[found : found + 4000] if found >= 0 else run.stdout[-3000:])
        print(run.stderr[-3000:])
    return 0 if run.returncode == 0 and not logged else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not 1 <= args.examples <= 10_000 or not 1 <= args.workers <= 16:
        parser.error("--examples must be 1-10000 and --workers 1-16")
    sys.exit(main(args.examples, args.seed, args.workers))
