"""gunicorn's settings for this service; gunicorn reads this file from its working directory
(the repository root, as `make run` and the README's production command start it).

Command-line flags (workers, threads, bind, --access-logfile) still win over what is here.
"""

import os
import tempfile
from typing import Any

# Phone numbers masked in the access and error logs (pandorakart_wa/core/gunicorn_logging.py).
logger_class = "pandorakart_wa.core.gunicorn_logging.MaskingLogger"

# GET /metrics reports the request metrics of every worker, whichever one answers the scrape:
# prometheus-client's multiprocess mode, each worker writing its samples under this directory.
# Set here, in the master, before any worker imports prometheus-client: a new, empty directory
# per start (samples of an earlier run would be summed in). An operator who sets
# PROMETHEUS_MULTIPROC_DIR instead must empty it before each start.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pandorakart-prometheus-")


def child_exit(server: Any, worker: Any) -> None:  # gunicorn's hook
    """A worker that exits leaves its live gauges behind: tell prometheus-client."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
