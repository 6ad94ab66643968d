"""System tools and cached models the tests need, found or failed clearly: a missing one fails the test
(never skips it) with the one command that installs it. `scripts/setup.sh` (the README's set-up)
installs all of them."""

from __future__ import annotations

import shutil
from pathlib import Path

MISSING_MODEL = ("LocalEntryNotFoundError", "not in the local Hugging Face cache")
"""Text of a failure caused by a model the offline Hugging Face cache lacks."""
MODEL_FIX = ("a model is missing from the offline Hugging Face cache: `scripts/model_cache.sh` builds the "
             "tests' models (`scripts/model_cache.sh <hub id>` another one; `scripts/setup.sh` runs it)")


def require_tool(package: str, *names: str) -> str:
    """Path of the first of `names` (default: `package`) on PATH or in /usr/games (Debian's games, e.g.
    stockfish); AssertionError naming the apt command that installs `package` when none is found."""
    for name in names or (package,):
        found = shutil.which(name) or (str(Path("/usr/games", name)) if Path("/usr/games", name).is_file() else None)
        if found:
            return found
    raise AssertionError(f"{package} is not installed: `sudo apt-get install -y {package}` "
                         "(scripts/setup.sh, the README's set-up, installs it)")
