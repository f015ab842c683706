# consent-sync daemon image.
#   docker build -t consent-sync .
#   docker run -e CONSENT_SYNC_DATABASE_URL=postgresql+psycopg://consent@db:5432/consent \
#              -e SALESFORCE_CLIENT_SECRET=... -e HUBSPOT_ACCESS_TOKEN=... \
#              -v /etc/consent-sync:/config:ro -p 8080:8080 consent-sync
# The first run needs the schema: docker run ... consent-sync db upgrade
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The product only: package discovery leaves the CRM emulators (consent_sync_sandbox) out of
# the install, and .dockerignore keeps their sources out of the build context.
RUN pip install . \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/consent-sync consent \
    && rm -rf /src

# The repository's config works against the sandboxes; mount your own over /config.
COPY connectors /config/connectors
COPY mappings /config/mappings

USER consent
WORKDIR /var/lib/consent-sync
ENV CONSENT_SYNC_CONFIG=/config
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["consent-sync"]
CMD ["run", "--host", "0.0.0.0", "--port", "8080"]
