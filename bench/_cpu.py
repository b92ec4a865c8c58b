"""CPU time spent by each process of a stack (and all its descendants), read from /proc: what a measured phase
cost each part, in CPU seconds, so a figure per unit of work (ms of CPU per paid checkout) can be printed."""
from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """User + system CPU seconds of `pid` and (`tree`) every process below it that is still running."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)
        children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()] if tree else []
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return total
    return total + sum(cpu_seconds(child) for child in children)


class CpuMeter:
    """`parts` maps a label to the pids whose trees it sums (a pid given as (pid, False): that process alone).
    `start()` and `stop()` bracket a phase (several phases add up); `seconds` then holds each part's CPU seconds
    over them."""

    def __init__(self, parts: dict[str, list[int]]):
        self.parts = parts
        self.seconds = {label: 0.0 for label in parts}
        self._started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {label: sum(cpu_seconds(*pid) if isinstance(pid, tuple) else cpu_seconds(pid) for pid in pids)
                for label, pids in self.parts.items()}

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> None:
        for label, seconds in self._now().items():
            self.seconds[label] += seconds - self._started[label]

    def per(self, count: int) -> dict[str, float]:
        """Each part's CPU milliseconds per unit of work (`count` units over the measured phases)."""
        return {label: 1000 * seconds / count for label, seconds in self.seconds.items()} if count else {}
