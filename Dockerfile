# Vigilo in a container: the dashboard built with Node, the binary with
# Rust (the dashboard embedded), and a small Debian runtime that runs it as
# an unprivileged user.
#
#   docker build -t vigilo .
#   docker compose up            # with PostgreSQL, see compose.yaml
#
# The server listens on 0.0.0.0:8080 inside the container. It refuses a
# non-loopback address without TLS unless told otherwise: mount a
# certificate and set VIGILO_TLS__CERT_FILE and VIGILO_TLS__KEY_FILE, or
# terminate TLS in front of it and set VIGILO_AUTH__ALLOW_INSECURE=true.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Release builds embed web/dist.
COPY --from=web /src/web/dist web/dist
RUN cargo build --release --locked -p vigilo \
    && install -m 0755 target/release/vigilo /usr/local/bin/vigilo

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/vigilo vigilo \
    && mkdir -p /var/lib/vigilo \
    && chown vigilo:vigilo /var/lib/vigilo
COPY --from=build /usr/local/bin/vigilo /usr/local/bin/vigilo
USER vigilo
ENV VIGILO_DATA_DIR=/var/lib/vigilo \
    VIGILO_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/vigilo"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["vigilo"]
CMD ["serve"]
