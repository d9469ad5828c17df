# One image for every deltastream process: `deltastream actors|edge|feed …`.
FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md package.json ./
COPY actors ./actors
COPY edge ./edge
COPY config ./config
RUN pip install --no-cache-dir . && npm install --omit=dev --no-audit --no-fund
ENV DELTASTREAM_HTTP_HOST=0.0.0.0 DELTASTREAM_PRODUCTS_FILE=/app/config/products.toml
EXPOSE 8000
ENTRYPOINT ["deltastream"]
CMD ["edge"]
