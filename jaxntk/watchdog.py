r"""The stall watchdog: a run that stops making progress is stopped, loudly, with how to resume it.

A wedged process (issue 26, item 10: every thread of a paper-scale run in a futex wait while a
vmapped result was materialised) would otherwise sit forever. Progress is

* a heartbeat, ``beat(what)``: every chunk of ``jaxntk.runner.run`` and every stage of
  ``experiments._cli.Stages`` bumps it (one timestamp; no I/O, so it is safe anywhere); and
* CPU time: a stage can legitimately run for hours without a chunk ending (a paper-scale stage
  without ``--checkpoint-every``), but then it computes, while a wedged run sleeps. A poll in
  which the process used at least ``BUSY_FRACTION`` of one core counts as progress.

``watch(seconds, outdir=..., command=...)`` (started by the command-line entries only: the
experiment scripts' ``main`` and ``jaxntk reproduce``; a notebook's ``run(cfg)`` is never
watched) runs a daemon thread that polls every ``min(seconds / 4, 10)`` s. After ``seconds``
with neither, it prints why to stderr, dumps every thread's Python stack
(``faulthandler.dump_traceback(all_threads=True)``) to stderr and to ``OUTDIR/stall-stacks.txt``,
prints one last line with the command that continues the run, and exits the process with
``EXIT_CODE`` (``os._exit``: a wedged main thread cannot raise). Should the watchdog thread
itself never get to run (a C call holding the GIL), faulthandler's own C thread, re-armed by
every poll, dumps the stacks to stderr at ``2 * seconds`` and exits with status 1.

``seconds``: ``timeout(flag)``, the ``--stall-timeout`` flag, else the ``JAXNTK_STALL_TIMEOUT``
environment variable, else ``DEFAULT_TIMEOUT``; 0 turns the watchdog off.
"""

from __future__ import annotations

import contextlib
import datetime
import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

TIMEOUT_ENV = "JAXNTK_STALL_TIMEOUT"
DEFAULT_TIMEOUT = 1800.0  # seconds; generous: a healthy run bumps the heartbeat or burns CPU
EXIT_CODE = 3  # a stalled run (2 is argparse's usage error, 1 any other failure)
BUSY_FRACTION = 0.1  # CPU seconds per wall second (all threads) that count as computing
STACKS_FILE = "stall-stacks.txt"

_last = (time.monotonic(), "start")  # (when, what): the latest heartbeat


def beat(what: str = "") -> None:
    """Record progress (``what``: e.g. "stage train_width_100_config0")."""
    global _last
    _last = (time.monotonic(), what)


def timeout(flag: float | None = None) -> float:
    """The stall timeout in seconds: ``flag``, else ``$JAXNTK_STALL_TIMEOUT``, else the default.

    Raises ValueError for a negative or non-numeric value (0 is off).
    """
    source, value = "--stall-timeout", flag
    if value is None:
        text = os.environ.get(TIMEOUT_ENV, "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        source = TIMEOUT_ENV
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{TIMEOUT_ENV}={text!r} is not a number of seconds (0 turns the watchdog off)"
            ) from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{source} must be a number of seconds >= 0 (0 is off), got {value}")
    return float(value)


@contextlib.contextmanager
def watch(seconds: float, *, outdir=None, command: str | Callable[[], str] | None = None):
    """Watch the code in the ``with`` block for stalls of ``seconds`` (0: no watchdog).

    ``outdir``: where ``STACKS_FILE`` goes; ``command``: the command that continues the run (or
    a callable returning it, called when the run stalls), printed as the last line.
    """
    if not seconds:
        yield None
        return
    beat("watchdog started")
    dog = _Watchdog(float(seconds), outdir, command)
    dog.arm()  # before the thread runs: a run may wedge before its first poll
    dog.start()
    try:
        yield dog
    finally:
        dog.stop()


def _stderr_fd():
    for stream in (sys.stderr, sys.__stderr__):
        try:
            stream.fileno()
            return stream
        except (AttributeError, OSError, ValueError):
            continue
    return None


class _Watchdog(threading.Thread):
    def __init__(self, seconds: float, outdir, command):
        super().__init__(name="jaxntk-watchdog", daemon=True)
        self.seconds, self.outdir, self.command = seconds, outdir, command
        self.poll = max(0.05, min(seconds / 4, 10.0))
        self._stop_event = threading.Event()
        self._backstop = _stderr_fd()

    def arm(self) -> None:
        """(Re)start faulthandler's C timer: dump and exit 1 unless re-armed in 2 * seconds."""
        if self._backstop is not None:
            faulthandler.dump_traceback_later(2 * self.seconds, exit=True, file=self._backstop)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def run(self) -> None:  # from here on faulthandler's timer is touched by this thread only
        then, cpu, busy_at = time.monotonic(), time.process_time(), time.monotonic()
        try:
            while not self._stop_event.wait(self.poll):
                now, used = time.monotonic(), time.process_time()
                if used - cpu >= BUSY_FRACTION * (now - then):
                    busy_at = now
                then, cpu = now, used
                if now - max(busy_at, _last[0]) >= self.seconds:
                    faulthandler.cancel_dump_traceback_later()
                    self._fire(now)
                self.arm()
        finally:
            faulthandler.cancel_dump_traceback_later()

    def _fire(self, now: float) -> None:
        try:
            self._report(now)
        finally:  # whatever happened while reporting, the process must not hang on
            os._exit(EXIT_CODE)

    def _report(self, now: float) -> None:
        when, what = _last
        try:
            command = self.command() if callable(self.command) else self.command
        except Exception as err:  # the stacks and the exit matter more
            command = f"(unknown: {type(err).__name__}: {err})"
        stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        path = None if self.outdir is None else Path(self.outdir) / STACKS_FILE
        header = (
            f"jaxntk watchdog: no progress for {self.seconds:g} s at {stamp} (no chunk or stage "
            f"finished and under {BUSY_FRACTION:g} CPU s/s used; last progress "
            f"{now - when:.0f} s ago: {what or 'none'}); the run is stuck and is stopped "
            f"(exit {EXIT_CODE}). Every thread's stack follows"
            + (f" (also in {path})" if path is not None else "")
            + ":\n"
        )
        resume = f"jaxntk watchdog: to continue the run: {command}\n" if command else ""
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as f:
                    f.write(header)
                    f.flush()
                    faulthandler.dump_traceback(f, all_threads=True)
                    f.write(resume)
            except OSError as err:
                header += f"(could not write {path}: {err})\n"
        err = _stderr_fd()
        if err is not None:
            err.write("\n" + header)  # on a line of its own, after any progress bar
            err.flush()
            faulthandler.dump_traceback(err, all_threads=True)
            err.write(resume)
            err.flush()
