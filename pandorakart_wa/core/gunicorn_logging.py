"""gunicorn's logger with phone numbers masked in every line it writes (access and error logs).

The access log holds each request line: `GET /api/v1/consents/+919227021270` or
`/api/v1/privacy/export?phone=%2B91...` would otherwise put full numbers in it. Named by
`logger_class` in gunicorn.conf.py, which gunicorn reads from its working directory.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from pandorakart_wa.core.logging import MaskPhoneNumbersFilter


class MaskingLogger(Logger):  # type: ignore[misc]  # gunicorn is untyped
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskPhoneNumbersFilter) for f in log.filters):
                log.addFilter(MaskPhoneNumbersFilter())
