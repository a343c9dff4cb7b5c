# syntax=docker/dockerfile:1
# adrank service images. Targets (docker build --target NAME):
#   cpu           (default) onnxruntime on CPU; the model bundle is mounted at /app/models
#   cpu-bundled   cpu + a bundle baked in (--build-arg BUNDLE_DIR=models/default, after `make bundle`)
#   gpu           NVIDIA CUDA 12 + cuDNN 9 runtime, onnxruntime-gpu (falls back to CPU without a GPU)
# The serving install is `pip install ".[cpu]"` or `".[gpu]"`: no torch, no transformers.
# One worker per container; it follows the container's CPU quota: the encoder's intra-op
# threads (ADRANK_MODEL__THREADS_FROM_CPUS=true) and the ranker's batches computed at once,
# one thread each (ADRANK_MODEL__RANKER_THREADS=1 keeps the ranker's calls single-threaded:
# its small graph gains more from concurrent batches; set either to override).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# ---- builder: a virtualenv with the package and its serving extra --------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adrank ./adrank
COPY service ./service
COPY model_export ./model_export
RUN /opt/venv/bin/pip install ".[cpu]"

# ---- runtime: python-slim, the virtualenv, a non-root user -----------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ADRANK_SERVER__HOST=0.0.0.0 \
    ADRANK_SERVER__PORT=8000 \
    ADRANK_SERVER__WORKERS=1 \
    ADRANK_MODEL__THREADS_FROM_CPUS=true \
    ADRANK_MODEL__RANKER_THREADS=1 \
    ADRANK_MODEL__BUNDLE_PATH=/app/models/default \
    ADRANK_MODEL__PROVIDERS='["CPUExecutionProvider"]'
RUN groupadd --system --gid 10001 adrank \
 && useradd --system --uid 10001 --gid adrank --home-dir /app --shell /usr/sbin/nologin adrank \
 && mkdir -p /app/models /app/data && chown -R adrank:adrank /app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Healthy = ready to serve (model warm, Redis answering): GET /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('ADRANK_SERVER__PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["adrank", "serve"]

# ---- cpu-bundled: the runtime with a model bundle baked in --------------------------------
FROM runtime AS cpu-bundled
ARG BUNDLE_DIR=models/default
COPY --chown=10001:10001 ${BUNDLE_DIR} /app/models/default

# ---- gpu: CUDA runtime base, onnxruntime-gpu ------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu-builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adrank ./adrank
COPY service ./service
COPY model_export ./model_export
RUN /opt/venv/bin/pip install ".[gpu]"

FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ADRANK_SERVER__HOST=0.0.0.0 \
    ADRANK_SERVER__PORT=8000 \
    ADRANK_SERVER__WORKERS=1 \
    ADRANK_MODEL__THREADS_FROM_CPUS=true \
    ADRANK_MODEL__RANKER_THREADS=1 \
    ADRANK_MODEL__BUNDLE_PATH=/app/models/default \
    ADRANK_MODEL__PROVIDERS='["auto"]'
RUN groupadd --system --gid 10001 adrank \
 && useradd --system --uid 10001 --gid adrank --home-dir /app --shell /usr/sbin/nologin adrank \
 && mkdir -p /app/models /app/data && chown -R adrank:adrank /app
COPY --from=gpu-builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('ADRANK_SERVER__PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["adrank", "serve"]

# ---- cpu: the default target (last stage) ---------------------------------------------------
FROM runtime AS cpu
