"""How a signed figure or a percentage is written for people: one rule for tables and command output.

A value that rounds to zero is written without a sign: a mixture whose gain over its best part is
-0.001% reads "0.0%", never "-0.0%".  Every report table
and command that prints a gain or a rate uses :func:`percent`, so the rule holds everywhere.
"""

from __future__ import annotations


def percent(value: float, digits: int = 1) -> str:
    """``value`` (in percent) rounded to ``digits`` decimals with a ``%`` sign, never as a negative zero
    (Python's ``z`` format option does this from 3.11; lmstats runs on 3.10 too)."""
    text = f"{value:.{digits}f}"
    return (text.lstrip("-") if float(text) == 0 else text) + "%"
