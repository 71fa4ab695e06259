"""CPU seconds of a process and all its descendants, sampled from /proc while it runs.

`getrusage(RUSAGE_CHILDREN)` counts only descendants that were waited for, and the report
stage's workers are children of a fork server that its parent does not wait for; so the tree is
read from /proc every `interval` seconds, keeping each process's latest user + system time
(the last fraction of an interval of each process is missed: a slight undercount).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stats() -> dict[int, tuple[int, float, int]]:
    """pid -> (parent pid, CPU seconds, resident bytes) of every process readable now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        found[int(entry.name)] = (int(fields[1]), cpu, int(fields[21]) * _PAGE)
    return found


class TreeCpu:
    """Sum of the CPU seconds of `root` and its descendants, sampled on a thread."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root, self.interval = root, interval
        self.seconds: dict[int, float] = {}
        self.peak_rss = 0  # the largest resident set of one process of the tree, in bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        tree = {self.root}
        while not self._stop.is_set():
            stats = _stats()
            for pid, (parent, _, _) in sorted(stats.items()):
                if parent in tree:
                    tree.add(pid)
            for pid in tree & stats.keys():
                self.seconds[pid] = max(self.seconds.get(pid, 0.0), stats[pid][1])
                self.peak_rss = max(self.peak_rss, stats[pid][2])
            self._stop.wait(self.interval)

    def total(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seconds.values())


def run_measured(
    command: list[str], **kwargs
) -> tuple[subprocess.CompletedProcess, float, float, int]:
    """Run `command` to the end: its result, wall seconds, CPU seconds of its whole tree and
    the peak resident bytes of its largest process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )
    cpu = TreeCpu(process.pid)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    seconds = cpu.total()
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    return done, wall, seconds, cpu.peak_rss
