#!/usr/bin/env python3
"""`make run`'s last step: web, worker and beat from Procfile.dev in the foreground (honcho),
and a graceful stop on Ctrl-C.

honcho starts each process in a session of its own, so the terminal's Ctrl-C reaches only this
manager (and make). On it, each process is asked to stop the way it stops cleanly: SIGTERM to
the process itself. honcho alone would signal each whole process group, so the Celery pool's
children died mid-task ("ERROR ... exited with signal 15"), and SIGKILL everything 5 seconds
later. Here gunicorn finishes the requests it holds, the worker does a warm shutdown (sends in
flight finish and are recorded; tasks it had reserved but not started go back to the broker),
beat saves its schedule; the manager waits up to RUN_STOP_GRACE_SECONDS (default 60) and exits
0 when every process stopped cleanly, so make ends without "Error 130". A second Ctrl-C stops
everything at once (SIGKILL); a message then left `sending` is reconciled later, never re-sent
blindly (README, "Sending").
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import honcho.manager
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile.dev"
STOP_GRACE_SECONDS = float(os.environ.get("RUN_STOP_GRACE_SECONDS", "60"))
SIGNALLED = (130, 143)  # honcho's return codes after SIGINT / SIGTERM


class ProcessLeaders:
    """honcho's process manager, signalling each process rather than its whole group."""

    def terminate(self, pid: int) -> None:
        self._signal(pid, signal.SIGTERM, group=False)

    def kill(self, pid: int) -> None:
        self._signal(pid, signal.SIGKILL, group=True)  # the last resort takes the children too

    @staticmethod
    def _signal(pid: int, signum: int, *, group: bool) -> None:
        try:
            os.killpg(pid, signum) if group else os.kill(pid, signum)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ESRCH):
                raise


class GracefulManager(Manager):  # type: ignore[misc]  # honcho is untyped
    def __init__(self, printer: Printer) -> None:
        super().__init__(printer)
        self._procmgr = ProcessLeaders()  # honcho 2.0.0 (pinned): its one process-signalling object
        self.forced = False

    def _start(self) -> None:
        # Manager.loop installed its handlers just before starting the processes: replace them
        # with ones that tell a second Ctrl-C from the first.
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        super()._start()

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._terminating:  # asked again: do not wait any longer
            self._system_print("stopping at once\n")
            self.kill()
            return
        self._system_print(f"{signal.Signals(signum).name} received: stopping gracefully "
                           f"(up to {STOP_GRACE_SECONDS:.0f} s; Ctrl-C again to stop at once)\n")
        self.returncode = SIGNALLED[0] if signum == signal.SIGINT else SIGNALLED[1]
        self.terminate()

    def kill(self) -> None:
        if any("returncode" not in p for p in self._processes.values()):
            self.forced = True
        super().kill()

    def exit_code(self) -> int:
        codes = [p.get("returncode") for p in self._processes.values()]
        if self.returncode in SIGNALLED and not self.forced and all(code == 0 for code in codes):
            return 0  # stopped on request, every process cleanly
        return int(self.returncode or 0) or (1 if any(codes) else 0)


@contextlib.contextmanager
def _ignoring_sigttou() -> Iterator[None]:
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a group leaving the foreground may still set it
    try:
        yield
    finally:
        signal.signal(signal.SIGTTOU, previous)


@contextlib.contextmanager
def terminal_foreground() -> Iterator[None]:
    """Hold the terminal's foreground while running, so Ctrl-C reaches this manager alone.

    Otherwise make, our parent, gets the terminal's SIGINT too and reports "Interrupt" (or
    "Error 130") however cleanly everything stopped. Only when run in the foreground of a
    terminal (not in CI, not with `make run &`); the shell takes the terminal back when make ends.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    try:
        previous = os.tcgetpgrp(fd)
        if previous != os.getpgrp():
            yield  # in the background: leave the terminal alone
            return
        os.setpgid(0, 0)
        with _ignoring_sigttou():
            os.tcsetpgrp(fd, os.getpgrp())
        try:
            yield
        finally:
            with _ignoring_sigttou(), contextlib.suppress(OSError):
                os.tcsetpgrp(fd, previous)
    finally:
        os.close(fd)


def main() -> int:
    honcho.manager.KILL_WAIT = STOP_GRACE_SECONDS  # read by Manager.loop once a process has stopped
    procfile = parse_procfile(PROCFILE.read_text())
    manager = GracefulManager(Printer(sys.stdout, colour=sys.stdout.isatty()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as it is written (beat's banner came at exit)
    for name, entry in procfile.processes.items():
        manager.add_process(name, entry, env=env, cwd=str(ROOT))
    with terminal_foreground():
        manager.loop()
    code = manager.exit_code()
    if code == 0:
        print("All processes stopped cleanly.", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
