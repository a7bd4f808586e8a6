# lrhub server image: the lrhub-server and lrhub-schedules distributions only (no client, no
# TensorFlow).
#
# Run it with at least one admin token; the image listens on 0.0.0.0, and the service refuses a
# non-loopback address without auth, so a container started without LRHUB_ADMIN_TOKEN exits with
# an error instead of serving an open API:
#   docker run -e LRHUB_ADMIN_TOKEN=ops:$(openssl rand -hex 24) -v lrhub-data:/data -p 8000:8000 lrhub
# SQLite lives on the /data volume; for several replicas point LRHUB_DATABASE_URL at PostgreSQL
# (postgresql+psycopg://...). tests/deploy/test_dockerfile.py replays the install and start steps.

FROM python:3.11-slim AS builder
ENV VIRTUAL_ENV=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The server needs the engine and itself; the client distribution stays out of the image.
COPY schedules/ schedules/
COPY service/ service/
# Build wheels (not editable or in-place installs) so the image runs exactly what a release
# ships, then install them into a venv the runtime stage copies whole. Installing the wheel files
# by path means no index can substitute a package of the same name for them.
RUN python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" wheel --no-cache-dir --no-deps --wheel-dir dist ./schedules ./service \
 && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir dist/*.whl

FROM python:3.11-slim
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LRHUB_DATABASE_URL=sqlite:////data/lrhub.db \
    LRHUB_HOST=0.0.0.0 \
    LRHUB_PORT=8000
RUN groupadd --system --gid 10001 lrhub \
 && useradd --system --uid 10001 --gid lrhub --no-create-home --home-dir /data \
    --shell /usr/sbin/nologin lrhub \
 && mkdir /data \
 && chown lrhub:lrhub /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8000
# No curl in slim images: probe with the interpreter already there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['LRHUB_PORT'] + '/healthz', timeout=4)"]
# Exec form so SIGTERM reaches uvicorn directly (PID 1) and it drains requests before exiting.
# One worker per container: scale with replicas, not processes.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "lrhub.service", "serve", "--workers", "1"]
