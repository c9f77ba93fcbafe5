"""Shared pytest fixtures of the spiketrain package tests: where the shared reference fixtures
and the workspace binaries are, and a tiny prepared dataset (dvs-fixtures' Gesture `tiny` set
ingested through ``spiketrain.ingest``), made once per session.

Binaries come from ``SPIKETRAIN_BIN_DIR`` (default ``<repo>/target/release``; scripts/test.sh
builds them with the cargo tests): dvs-fixtures, dvs-ingest; ``SPIKETRAIN_EXAMPLES_DIR`` (default
``<bin dir>/examples``): write_format_fixtures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import spiketrain

REPO = Path(__file__).resolve().parents[2]
SHARED_EVENTS = Path(os.environ.get("SPIKETRAIN_SHARED_EVENTS", REPO.parent / "shared" / "fixtures" / "events"))
BIN_DIR = Path(os.environ.get("SPIKETRAIN_BIN_DIR", REPO / "target" / "release"))
EXAMPLES_DIR = Path(os.environ.get("SPIKETRAIN_EXAMPLES_DIR", BIN_DIR / "examples"))


def binary(name: str, folder: Path = BIN_DIR) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: build it first (cargo build --release --workspace --examples), "
            "or point SPIKETRAIN_BIN_DIR at the folder that holds it")
    return path


def run(*args: object) -> str:
    done = subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture(scope="session")
def shared_events() -> Path:
    if not SHARED_EVENTS.is_dir():
        raise FileNotFoundError(f"{SHARED_EVENTS} is missing (set SPIKETRAIN_SHARED_EVENTS)")
    return SHARED_EVENTS


@pytest.fixture(scope="session")
def format_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file per format from the fixtures crate's encoders, each with `<file>.rust.npy`."""
    out = tmp_path_factory.mktemp("formats")
    run(binary("write_format_fixtures", EXAMPLES_DIR), out)
    return out


@pytest.fixture(scope="session")
def gesture_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    run(binary("dvs-fixtures"), "--layout", "gesture", "--size", "tiny", "--out", out, "--seed", "3", "--quiet")
    found = [p for p in out.rglob("*.aedat")]
    assert found, f"dvs-fixtures wrote no .aedat under {out}"
    return found[0].parent


@pytest.fixture(scope="session")
def dataset(gesture_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "gesture"
    summary = spiketrain.ingest("gesture", gesture_raw, out, frames=4, resize=16, shard_mb=1, progress=False)
    assert not summary["failures"], summary
    return out
