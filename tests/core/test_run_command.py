"""`make run` stops gracefully on Ctrl-C: a send in flight is finished and recorded, no process
is killed, make exits 0 (the run command, as a newcomer runs it)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import sqlite3
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest
import requests

from benchmarks.common_send import free_port, wait_for
from pandorakart_wa.whatsapp.signature import sign
from tests.core.helpers import ROOT
from tests.webhooks.helpers import messages, text

pytestmark = pytest.mark.slow

DEMO_CUSTOMER = "+919000000101"  # complaints/seed.py's demo customer (opted in by seed_demo)
PHONE_NUMBER_ID, WABA_ID = "106540352242922", "102290129340398"  # tests/settings.py's, as the helpers use
SEND_LATENCY_MS = 4000  # Meta answers the send this late: Ctrl-C lands while it is in flight


def _dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))


def test_ctrl_c_on_make_run_finishes_the_send_in_flight_and_exits_cleanly(tmp_path, fake_meta_server):
    # given `make run` on a fresh SQLite file, with Meta (the fake Graph API) slow to answer sends
    fake = fake_meta_server
    fake.reset()
    fake.set_latency(SEND_LATENCY_MS)
    port = free_port()
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8",
        "ENV_FILE": str(tmp_path / ".env"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RUN_DIR": str(tmp_path / "run"), "MEDIA_ROOT": str(tmp_path / "media"), "PORT": str(port),
        # a checkout's own ledger-checkpoints/ holds an earlier run's signed checkpoints, which a
        # fresh database rightly contradicts (logged as an ERROR): this run keeps its own
        "LEDGER_CHECKPOINT_DIR": str(tmp_path / "ledger-checkpoints"),
        "WHATSAPP_BACKEND": "cloud", "WHATSAPP_GRAPH_URL": fake.url, "WHATSAPP_ACCESS_TOKEN": fake.token,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_WABA_ID": WABA_ID,
    }
    output = tmp_path / "make-run.log"
    terminal = Terminal(output)  # make runs in a terminal of its own, as a newcomer's does
    make = terminal.run(["make", "run"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url), 300, 0.5, "make run")
        local = _dotenv(tmp_path / ".env")
        api = {"Authorization": f"Api-Key {local['DEMO_API_KEY']}"}
        # the customer agreed to support replies and writes (the 24-hour window opens); the
        # storefront answers with a text
        notice = requests.get(f"{url}/api/v1/notices/current", headers=api, timeout=10).json()["version"]
        opt_in = requests.post(f"{url}/api/v1/consents/opt-in", headers=api, timeout=10, json={
            "phone": DEMO_CUSTOMER, "purposes": ["support"], "notice_version": notice, "source": "whatsapp"})
        assert opt_in.status_code == 201, opt_in.text
        body = json.dumps(messages([text(DEMO_CUSTOMER.lstrip("+"), "Where is my refund?", wamid="wamid.RUN1")]))
        answer = requests.post(f"{url}/webhooks/whatsapp", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(body.encode(), local["WHATSAPP_APP_SECRET"])})
        assert answer.status_code == 200, answer.text
        accepted = _accept_when_the_window_is_open(url, api)
        wait_for(lambda: _in_flight(fake), 30, 0.05, "the send to reach Meta")
        # when Ctrl-C is pressed (in the terminal) while Meta has not answered yet
        terminal.type(CTRL_C)
        code = make.wait(timeout=120)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        terminal.close()
        fake.set_latency(0)
    log = output.read_text(errors="replace")
    # then make succeeded, the worker shut down warm and nothing was killed
    assert code == 0, log[-4000:]
    assert "worker: Warm shutdown" in log and "All processes stopped cleanly." in log
    for bad in ("SIGKILL", "ERROR/", "Traceback", "exited with 'signal", "Error 130", "Interrupt",
                "No hostname was supplied"):
        assert bad not in log, (bad, log[-4000:])
    # and the send that was in flight was answered by Meta and recorded as sent
    sends = fake.messages_to(DEMO_CUSTOMER)
    assert [s["status"] for s in sends] == [200]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        row = db.execute("SELECT status, wamid FROM messaging_message WHERE id = ?",
                         [accepted["id"].replace("-", "")]).fetchone()
    assert row[0] == "sent" and row[1], row


CTRL_C = b"\x03"  # the terminal turns it into SIGINT for its foreground process group


class Terminal:
    """A pseudo-terminal: the process started is a session leader with it as its controlling
    terminal, so Ctrl-C typed into it reaches whichever process group holds its foreground."""

    def __init__(self, output: Path) -> None:
        self.master, self.slave = pty.openpty()
        self._out = output.open("wb")
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def run(self, args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        def controlling_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        process: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            args, stdin=self.slave, stdout=self.slave, stderr=self.slave, start_new_session=True,
            preexec_fn=controlling_terminal, **kwargs)
        return process

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._out.write(chunk)
            self._out.flush()

    def close(self) -> None:
        os.close(self.slave)
        self._reader.join(timeout=5)
        os.close(self.master)
        self._out.close()


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _accept_when_the_window_is_open(url: str, api: dict[str, str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while True:  # the worker applies the inbound message within a few seconds
        response = requests.post(f"{url}/api/v1/messages", json={"to": DEMO_CUSTOMER, "text": "Your refund left today."},
                                 headers=api, timeout=10)
        if response.status_code == 202:
            accepted: dict[str, str] = response.json()
            return accepted
        assert response.status_code == 422 and response.json()["code"] == "outside_service_window", response.text
        assert time.monotonic() < deadline, "the inbound message was never applied"
        time.sleep(0.5)


def _in_flight(fake: object) -> bool:
    sends = fake.messages_to(DEMO_CUSTOMER)  # type: ignore[attr-defined]
    return bool(sends) and sends[0]["status"] is None
