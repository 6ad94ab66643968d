"""The one exception type for bad input.

Library code raises `InputError` for anything a user can fix (a params typo, a missing file, a
non-binary label column, an unknown task). Stage scripts catch it and print one line
(`error: <message>`) with a non-zero exit, so the message must name the culprit and where it is.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input that the user can fix; the message names the value and its location."""
