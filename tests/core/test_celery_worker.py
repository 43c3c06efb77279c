"""A real Celery worker process on Redis picks up a task and completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from pandorakart_wa.webhooks.models import WebhookEvent
from pandorakart_wa.whatsapp.backends.sandbox import sandbox_feed_status
from tests.core.helpers import ROOT

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(settings):
    """A `celery -A pandorakart_wa worker` on the test database and the test Redis broker."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "off",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pandorakart_wa", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", "worker-test"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_real_worker_completes_a_task(worker, settings):
    # given the test process publishes for real (not eagerly) to the worker's queue on Redis
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    from pandorakart_wa.celery import app

    app.conf.task_always_eager = False
    try:
        # when a task is enqueued
        sandbox_feed_status.apply_async(
            kwargs={"wamid": "wamid.worker-test", "recipient": "+919227021270", "status": "sent", "callback_data": "42"},
            queue="worker-test",
        )
        # then the worker applies it to the database
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not WebhookEvent.objects.exists():
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else "worker died"
            time.sleep(0.2)
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
    event = WebhookEvent.objects.get()
    assert event.source == WebhookEvent.Source.SANDBOX
    status = event.items.get().data["data"]
    assert status["id"] == "wamid.worker-test"
    assert status["biz_opaque_callback_data"] == "42"
