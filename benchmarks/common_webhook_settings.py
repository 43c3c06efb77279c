"""Settings of the webhook intake benchmark's web server: the production settings, plus one
benchmark-only URL (a trivial 200 behind the same middleware) as the same-run baseline."""

from pandorakart_wa.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.common_webhook_urls"
