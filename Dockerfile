# The rerank sidecar on a CUDA runtime. Build:
#   docker build -t lychee-rerank-sidecar .                                  # sdpa attention
#   docker build --build-arg INSTALL_GPU_EXTRA=true -t lychee-rerank-sidecar .  # + flash-attn
# The model weights are not in the image: mount them (see docker-compose.yml).
ARG CUDA_VERSION=12.8.1
ARG UBUNTU_VERSION=ubuntu22.04

# ---- build: a virtualenv with the project; flash-attn compiles here against nvcc ----
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU_VERSION} AS build
ARG INSTALL_GPU_EXTRA=false
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
        build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lychee_engine ./lychee_engine
COPY connectors ./connectors
COPY sidecar ./sidecar
RUN pip install --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1 \
    && pip install .
# flash-attn needs torch at build time, hence no build isolation; optional because the
# engine falls back to sdpa and the compile takes a long time.
RUN if [ "$INSTALL_GPU_EXTRA" = "true" ]; then \
        pip install ninja==1.13.0 packaging==25.0 \
        && MAX_JOBS=4 pip install --no-build-isolation ".[gpu]"; \
    fi

# ---- runtime: the same Python, the virtualenv, no compilers ----
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU_VERSION}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin lychee
COPY --from=build /opt/venv /opt/venv
# Default rules so the image runs on its own; compose mounts the file to tune it live.
COPY config/rules.example.yaml /etc/lychee/rules.yaml
# Nothing may be fetched from a model hub at run time: weights come from the mounted directory.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LYCHEE_HOST=0.0.0.0 \
    LYCHEE_PORT=8080 \
    LYCHEE_RULES_PATH=/etc/lychee/rules.yaml
USER lychee
WORKDIR /home/lychee
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]
CMD ["python", "-m", "sidecar"]
