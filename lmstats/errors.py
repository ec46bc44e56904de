"""The one exception type for user mistakes.

Library code raises :class:`LmstatsError` for anything a user can fix (a missing file, an
empty corpus, a bad option value).  The CLI turns it into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LmstatsError(ValueError):
    """A user-facing error: the message says what went wrong, why, and what to do."""
