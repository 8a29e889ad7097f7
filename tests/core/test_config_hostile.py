"""Garbage in the venue file: `edgebox check-config` lists key-path problems and exits 1, and
never shows a traceback, whatever the bytes."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebox.cli import main as cli
from edgebox.core import config
from edgebox.core.errors import ConfigError
from tests.conftest import base_venue

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = re.compile(r"^  (\(top level\)|[a-z_]+(\[\d+\])?(\.[a-z_]+)*(\[\d+\])?): \S")

GARBAGE = {
    "random bytes": bytes(range(256)) * 4,
    "nested too deeply": b"venue = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "not UTF-8": b'venue = "caf\xe9"\n',
    "a table nested too deeply": b"venue = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
}
WRONG = {
    "wrong types": (
        {"lan": {"port": "8080", "host": 1}, "cloud": {"enabled": "yes"}},
        ["lan.port: must be int (got str '8080')", "lan.host: must be str (got int 1)"],
    ),
    "huge numbers": (
        {"lan": {"port": 10**18}, "cache": {"max_bytes": 2**62}},
        ["lan.port: must be between 0 and 65535", "cache.max_bytes: must be between 1 and"],
    ),
    "a table where an array of tables goes": (
        {"panels": {"name": "a", "port": "/dev/ttyUSB0"}},
        ["panels: must be an array of tables ([[panels]])"],
    ),
    "a string where a table goes": ({"cloud": "http://x"}, ["cloud: must be a table ([cloud])"]),
    "a number in an array of tables": ({"canvases": [7]}, ["canvases[0]: must be a table"]),
    "deep nesting where text goes": (
        {"device": {"sn_number": [[[[[["SN"]]]]]]}},
        ["device.sn_number: must be str (got list [[[[[['SN']]]]]])"],
    ),
    "a NUL in a path": ({"cache": {"directory": "/var/lib/\x00edgebox"}}, ["cache.directory"]),
    "a source with a trailing newline": (
        {"canvases": [{"name": "main", "source": "led\n"}]},
        ["canvases[0].source: must be 'led' or 'cloud:"],
    ),
}


def toml_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return (
            '"'
            + "".join(
                c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value
            )
            + '"'
        )
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_of(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_of(v)}' for k, v in value.items()) + "}"
    raise TypeError(value)


def venue_file(tmp_path: Path, sections: dict[str, Any]) -> Path:
    venue = base_venue(tmp_path / "data", **sections)
    path = tmp_path / "venue.toml"
    path.write_text("".join(f"{k} = {toml_of(v)}\n" for k, v in venue.items()))
    return path


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgebox", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_garbage_files_are_problems_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two files in a process of their own, as an operator runs it; the rest in this one."""
    for n, (name, raw) in enumerate(GARBAGE.items()):
        path = tmp_path / f"{name}.toml"
        path.write_bytes(raw)
        if n < 2:
            result = check_config(path)
            code, err = result.returncode, result.stderr
        else:
            code, err = cli.main(["check-config", str(path)]), capsys.readouterr().err
        assert code == 1, (name, err)
        assert "Traceback" not in err, (name, err)
        assert err.startswith(f"{path}: 1 problem(s)\n  {path}: "), (name, err)


@pytest.mark.parametrize(("sections", "expected"), WRONG.values(), ids=list(WRONG))
def test_wrong_values_are_listed_by_key_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sections: dict[str, Any],
    expected: list[str],
) -> None:
    path = venue_file(tmp_path, sections)
    assert cli.main(["check-config", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"{path}: ")
    problems = lines[1:]
    assert problems and all(PROBLEM.match(p) for p in problems), problems
    for wanted in expected:
        assert any(wanted in p for p in problems), (wanted, problems)


KEYS = st.sampled_from(
    [
        ("venue",),
        ("cloud",),
        ("cloud", "base_url"),
        ("cloud", "sync_interval"),
        ("cloud", "enabled"),
        ("cloud", "password"),
        ("device",),
        ("device", "sn_number"),
        ("cache", "directory"),
        ("cache", "max_bytes"),
        ("lan", "port"),
        ("lan", "admin_token"),
        ("canvases",),
        ("panels",),
        ("nope",),
        ("lan", "nope"),
    ]
)
TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEYS, TOML_VALUES), max_size=4))
def test_any_values_at_any_keys_give_a_config_or_key_path_problems(
    changes: list[tuple[tuple[str, ...], Any]],
) -> None:
    venue = base_venue(Path("/tmp/edgebox-never-written"))
    for keys, value in changes:
        table = venue
        for key in keys[:-1]:
            if not isinstance(table.get(key), dict):
                table[key] = {}
            table = table[key]
        table[keys[-1]] = value
    try:
        config.parse(venue)
    except ConfigError as exc:
        assert exc.problems
        assert all(PROBLEM.match("  " + p) for p in exc.problems), exc.problems
        assert "s3cret-password" not in " ".join(exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_load_as_a_config_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "garbage.toml"
    path.write_bytes(raw)
    try:
        config.load(path)
    except ConfigError as exc:
        assert exc.problems
