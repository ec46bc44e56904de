"""How a signed figure or a percentage is written for people: one rule for tables and command output.

A value that rounds to zero is written without a sign: a mixture whose gain over its best part is
-0.001% reads "0.0%", never "-0.0%" (Python's ``z`` format option, PEP 682).  Every report table
and command that prints a gain or a rate uses :func:`percent`, so the rule holds everywhere.
"""

from __future__ import annotations


def percent(value: float, digits: int = 1) -> str:
    """``value`` (in percent) rounded to ``digits`` decimals with a ``%`` sign, never as a negative zero."""
    return f"{value:z.{digits}f}%"
