# syntax=docker/dockerfile:1.7
# Garrison: the gateway (default command) or the admin API (`garrison admin-serve ...`).
#
#   docker build --build-arg EXTRAS=postgres,redis,s3,otel -t garrison:0.1.0 .
#
# Stage one builds every wheel; the final stage installs them into a virtualenv from a
# read-only bind mount, so neither compilers, wheels nor package caches reach it. It
# runs as a numeric non-root user and works on a read-only root file system: only
# GARRISON_HOME (/var/lib/garrison) and /tmp must be writable (emptyDir volumes on
# Kubernetes). See docs/kubernetes.md.

# Both stages use the same base; for reproducible builds pin it by digest
# (python:3.11-slim-bookworm@sha256:...) in both FROM lines.
FROM python:3.11-slim-bookworm AS build
ARG EXTRAS=postgres,redis,s3
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels only: every dependency must ship one (no compiler is installed anywhere).
RUN pip wheel --wheel-dir /wheels --only-binary=:all: \
        ".[${EXTRAS}]" \
    && ls /wheels/garrison-*.whl

FROM python:3.11-slim-bookworm AS runtime
ARG EXTRAS=postgres,redis,s3
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="garrison" \
      org.opencontainers.image.description="Put machine-learning models into production securely: a registry that scans, signs and seals artifacts, and a hardened inference gateway." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Garrison developers" \
      org.opencontainers.image.source="https://github.com/garrison-ml/garrison" \
      org.opencontainers.image.documentation="https://github.com/garrison-ml/garrison/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm" \
      io.garrison.extras="${EXTRAS}"

ENV PATH=/opt/garrison/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/garrison \
    GARRISON_HOME=/var/lib/garrison \
    GARRISON_HOST=0.0.0.0 \
    GARRISON_PORT=8080 \
    GARRISON_LOG_FORMAT=json

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/garrison \
    && /opt/garrison/bin/pip install --no-index --find-links=/wheels "garrison[${EXTRAS}]" \
    && /opt/garrison/bin/pip uninstall --yes pip setuptools wheel \
    && python -m compileall -q /opt/garrison/lib \
    && groupadd --system --gid 10001 garrison \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/garrison \
        --no-create-home --shell /usr/sbin/nologin garrison \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/garrison \
    && rm -rf /root/.cache /tmp/*

COPY --chmod=0555 deploy/docker/healthcheck.py /opt/garrison/healthcheck.py

USER 10001:10001
WORKDIR /var/lib/garrison
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/garrison/healthcheck.py"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["garrison"]
CMD ["serve"]
