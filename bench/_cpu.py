"""CPU time spent by each process of a stack (and all its descendants), read from /proc: what a measured phase
cost each part, in CPU seconds, so a figure per unit of work (ms of CPU per paid checkout) can be printed."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

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


def processes_named(name: str) -> list[tuple[int, bool]]:
    """Every running process whose command is `name`, each alone (not its tree): e.g. PostgreSQL's server
    processes, whose backends come and go with connections."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == name:
                found.append((int(proc.name), False))
        except OSError:
            continue
    return found


class CpuMeter:
    """`parts` maps a label to the pids whose trees it sums (a pid given as (pid, False): that process alone), or
    to a function returning them, asked at each reading (a process that appears within a phase counts from its
    start). `start()` and `stop()` bracket a phase (several phases add up); `seconds` then holds each part's CPU
    seconds over them."""

    def __init__(self, parts: dict[str, list | Callable[[], list]]):
        self.parts = parts
        self.seconds = {label: 0.0 for label in parts}
        self._started: dict[str, dict] = {}

    def _now(self) -> dict[str, dict]:
        readings = {}
        for label, pids in self.parts.items():
            readings[label] = {pid: cpu_seconds(*pid) if isinstance(pid, tuple) else cpu_seconds(pid)
                               for pid in (pids() if callable(pids) else pids)}
        return readings

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> None:
        for label, readings in self._now().items():
            before = self._started[label]
            self.seconds[label] += sum(seconds - before.get(pid, 0.0) for pid, seconds in readings.items())

    def per(self, count: int) -> dict[str, float]:
        """Each part's CPU milliseconds per unit of work (`count` units over the measured phases)."""
        return {label: 1000 * seconds / count for label, seconds in self.seconds.items()} if count else {}
