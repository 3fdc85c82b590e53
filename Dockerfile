# syntax=docker/dockerfile:1
# taskcore: the REST API (default command) and the worker, in one image.
#
#   docker build -t taskcore .
#   docker run --rm -p 8080:8080 taskcore                      # memory store and queue
#   docker run --rm -e TASKCORE_STORE__BACKEND=sql ... taskcore worker
#
# Configuration comes from TASKCORE_<SECTION>__<KEY> variables or a file named by
# TASKCORE_CONFIG (the examples of config/ are in /etc/taskcore/).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: the taskcore wheel and wheels of every dependency --------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY taskcore ./taskcore
COPY taskcore_adapters ./taskcore_adapters
COPY taskcore_flask ./taskcore_flask
RUN python -m pip wheel --wheel-dir /wheels ".[sql,rabbitmq,kafka]"

# ---- runtime: a virtualenv installed from those wheels only, run as a non-root user -----
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/taskcore/venv/bin:$PATH

RUN groupadd --system --gid 10001 taskcore \
    && useradd --system --uid 10001 --gid taskcore --home-dir /var/lib/taskcore \
        --create-home --shell /usr/sbin/nologin taskcore

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/taskcore/venv \
    && /opt/taskcore/venv/bin/pip install --no-index --find-links=/wheels \
        "taskcore[sql,rabbitmq,kafka]"

COPY config/ /etc/taskcore/

# SQLite files (sqlite:///./taskcore.db) and gunicorn's control socket land here.
WORKDIR /var/lib/taskcore
USER 10001:10001

EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=4)"]

ENTRYPOINT ["taskcore"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
