# One image for every deltastream process: `deltastream actors|edge|feed|record|logs|up …`
# (docker-compose.yml and k8s/ run it with those commands as arguments).
#
#   docker build -t deltastream:latest .

# The dashboard's browser libraries (socket.io-client, uPlot) from npm, pinned by the lock
# file; only the files land in the runtime image, not Node itself.
FROM node:20-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY actors ./actors
COPY edge ./edge
RUN pip install . && rm -rf build
COPY config ./config
# The edge serves the vendored browser files from ./node_modules (edge/routes/web.py looks
# in the working directory).
COPY --from=web /web/node_modules ./node_modules
# A numeric user, so Kubernetes can check runAsNonRoot; numba writes its cache under HOME.
RUN useradd --uid 10001 --home-dir /home/deltastream --create-home deltastream
ENV NUMBA_CACHE_DIR=/home/deltastream/.cache/numba
USER 10001:10001
# Listen on every interface inside the container; ports are published by compose/k8s.
ENV DELTASTREAM_HTTP_HOST=0.0.0.0 \
    DELTASTREAM_ACTORS_HTTP_HOST=0.0.0.0 \
    DELTASTREAM_PRODUCTS_FILE=/app/config/products.toml
# 8000: edge (REST, Socket.IO, /metrics, /health); 8001: actor host /metrics and /health
# when DELTASTREAM_ACTORS_HTTP_PORT=8001.
EXPOSE 8000 8001
ENTRYPOINT ["deltastream"]
CMD ["edge"]
