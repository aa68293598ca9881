"""The web app as the HTTP benchmarks serve it: the production app plus the benchmark flow's
service operator (``gunicorn bench.wsgi:app``)."""

from bench import engine_throughput  # noqa: F401 - registers the benchmark flow's warranty operator
from web import create_app

app = create_app()
