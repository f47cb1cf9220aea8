"""Failed trials: the reason a trial failed."""

from __future__ import annotations


def failure_reason(message: str | None) -> str | None:
    """The last line of a failed trial's message (its error), or ``None`` without one."""
    if not message:
        return None
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
