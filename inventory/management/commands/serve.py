"""Run the web server, a Celery worker and beat together (the embedded default).

Production runs them as separate processes instead:
  uvicorn inventory.asgi:application --host 0.0.0.0 --port 8000 --workers 4 --no-proxy-headers \
          --loop inventory.runtime.serving:loop_factory
  celery -A inventory worker --concurrency 4
  celery -A inventory beat
"""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from inventory.management.cli import WithExamples


class Command(WithExamples, BaseCommand):
    help = "Start uvicorn (admin, REST, /mcp), a Celery worker and Celery beat; stop all on exit."
    examples = ("", "--host 127.0.0.1 --port 8001 --workers 2", "--no-worker")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="default: PUBLIC_URL's host")
        parser.add_argument("--port", type=int, default=None, help="default: PUBLIC_URL's port")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "1")))
        parser.add_argument("--no-worker", action="store_true", help="do not start Celery")

    def handle(self, *args, host, port, workers, no_worker, **options):
        public = urlsplit(settings.PUBLIC_URL)
        host = host or public.hostname or "127.0.0.1"
        port = port or public.port or (443 if public.scheme == "https" else 80)
        py = sys.executable
        commands = [[py, "-m", "uvicorn", "inventory.asgi:application", "--host", host, "--port", str(port),
                     "--workers", str(workers), "--no-proxy-headers", "--no-server-header",
                     "--loop", "inventory.runtime.serving:loop_factory"]]
        if not no_worker:
            commands.append([py, "-m", "celery", "-A", "inventory", "worker", "--loglevel", "INFO",
                             "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2")])
            commands.append([py, "-m", "celery", "-A", "inventory", "beat", "--loglevel", "INFO",
                             "--schedule", str(settings.DATA_DIR / "celerybeat-schedule")])
        procs = [subprocess.Popen(cmd) for cmd in commands]
        self.stdout.write(f"Serving on {settings.PUBLIC_URL} (admin at {settings.PUBLIC_URL}/admin/)")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            deadline = time.time() + 10
            for p in procs:
                try:
                    p.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p.args for p in procs if p.returncode not in (0, -signal.SIGTERM, None) and not stopping]
        if failed:
            raise SystemExit(f"a process stopped: {failed[0][2:4]}")
