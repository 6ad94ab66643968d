"""`w2s.io`: atomic writes leave files and folders with the permissions a normal write would give."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from w2s.io import atomic_dir, atomic_path, write_json


@pytest.fixture(params=[0o022, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_folders_get_the_umask_of_a_normal_write(tmp_path: Path, umask: int) -> None:
    normal_file, normal_dir = tmp_path / "plain.txt", tmp_path / "plain"
    normal_file.write_text("x")
    normal_dir.mkdir()
    write_json({"a": 1}, tmp_path / "metrics" / "m.json")
    with atomic_path(tmp_path / "table.md") as tmp:
        tmp.write_text("| a |\n")
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "summary.json").write_text("{}")
    assert mode(tmp_path / "metrics" / "m.json") == mode(tmp_path / "table.md") == mode(normal_file) \
        == 0o666 & ~umask
    assert mode(tmp_path / "run") == mode(normal_dir) == 0o777 & ~umask
    assert mode(tmp_path / "run" / "summary.json") == 0o666 & ~umask
