"""The one set-up path (scripts/setup.sh): the README, `make setup` and CI run it; a test that needs a
system tool or a cached model it cannot find fails naming the one command that installs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from system import MODEL_FIX, require_tool

ROOT = Path(__file__).resolve().parents[1]


def test_readme_make_and_ci_run_the_one_setup_script() -> None:
    assert "\nscripts/setup.sh\n" in (ROOT / "README.md").read_text()
    assert "scripts/setup.sh" in (ROOT / "Makefile").read_text().split("\nsetup:")[1].split("\n\n")[0]
    ci = (ROOT / ".ci/run").read_text()
    assert "make setup" in ci and "hf_offline_cache.py --only" not in ci  # the cache is the set-up's job
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert "chromium" in setup and "stockfish" in setup and "scripts/model_cache.sh" in setup


def test_a_missing_tool_fails_with_its_install_command() -> None:
    with pytest.raises(AssertionError, match=r"`sudo apt-get install -y w2s-no-such-tool`"):
        require_tool("w2s-no-such-tool")
    assert Path(require_tool("chromium", "chromium", "chromium-browser")).is_file()


def test_a_missing_model_failure_says_how_to_build_it(tmp_path: Path) -> None:
    """The repo's conftest hook, in a pytest run of its own: the failure report carries the cache command."""
    for name in ("conftest.py", "system.py"):
        (tmp_path / name).write_text((ROOT / "tests" / name).read_text())
    failure = "model 'org/x' cannot be loaded: not in the local Hugging Face cache"
    (tmp_path / "test_load.py").write_text(f"def test_load():\n    raise OSError({failure!r})\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_load.py"],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert done.returncode == 1, done.stdout
    assert "missing model" in done.stdout and MODEL_FIX in done.stdout, done.stdout


def test_model_cache_needs_a_builder_where_the_hub_is_unreachable(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHON": sys.executable,
           "W2S_OFFLINE_CACHE_BUILDER": str(tmp_path / "no_builder.py")}
    done = subprocess.run([str(ROOT / "scripts/model_cache.sh")], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "W2S_OFFLINE_CACHE_BUILDER" in done.stdout and str(tmp_path / "no_builder.py") in done.stdout
