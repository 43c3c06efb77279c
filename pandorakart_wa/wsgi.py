import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandorakart_wa.settings")

_django = get_wsgi_application()

from pandorakart_wa.webhooks.wsgi import with_webhook_handler  # noqa: E402 (needs the settings above)

# Meta's webhooks skip the staff side's middleware (sessions, CSRF, 2FA...): see that module.
application = with_webhook_handler(_django)
