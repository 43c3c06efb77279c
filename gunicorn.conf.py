"""gunicorn's settings for this service; gunicorn reads this file from its working directory
(the repository root, as `make run` and the README's production command start it).

Command-line flags (workers, threads, bind, --access-logfile) still win over what is here.
"""

# Phone numbers masked in the access and error logs (pandorakart_wa/gunicorn_logging.py).
logger_class = "pandorakart_wa.gunicorn_logging.MaskingLogger"
