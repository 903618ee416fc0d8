# smarketing-sync daemon image: slim, non-root, state on volumes, clean SIGTERM.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SMARKETING_DATA_DIR=/data \
    SMARKETING_MAPPINGS_DIR=/app/mappings \
    SMARKETING_LOG_FORMAT=json \
    SMARKETING_API__HOST=0.0.0.0

RUN groupadd --system --gid 10001 smarketing \
 && useradd --system --uid 10001 --gid smarketing --home-dir /app --shell /usr/sbin/nologin smarketing

WORKDIR /build
COPY pyproject.toml README.md CHANGELOG.md ./
COPY src ./src
COPY connectors ./connectors
COPY mappings ./mappings
RUN pip install --no-cache-dir . \
 && rm -rf /build

WORKDIR /app
COPY --chown=smarketing:smarketing mappings ./mappings
COPY --chown=smarketing:smarketing config.example.toml ./config.example.toml
RUN mkdir -p /data /app/connectors && chown smarketing:smarketing /data /app/connectors

# /data: the SQLite store; /app/connectors: your own connectors; /app/mappings: edited mappings.
VOLUME ["/data", "/app/connectors", "/app/mappings"]
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

STOPSIGNAL SIGTERM
CMD ["smarketing-sync", "run"]
