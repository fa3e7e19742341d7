# One image for the API server and the workers: `wharf serve` by default, `wharf worker` in the
# scaled mode. The web app is embedded in the binary (ui/dist is committed), so the build needs
# nothing but cargo.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wharf

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin wharf \
    && mkdir -p /data && chown wharf:wharf /data
COPY --from=build /src/target/release/wharf /usr/local/bin/wharf
# Listening on every interface inside the container: browsers reach it by another name, so set
# WHARF_AUTH__SIWE_DOMAIN to the host:port they use (wharf warns at start-up when it is unset).
ENV WHARF_LISTEN=0.0.0.0:8080 \
    WHARF_WORKER_LISTEN=0.0.0.0:9091 \
    WHARF_DATA_DIR=/data
WORKDIR /data
VOLUME /data
USER wharf
EXPOSE 8080 9091
# `wharf health` asks this container's own /readyz (serve) or the worker's (worker).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["wharf", "health"]
ENTRYPOINT ["wharf"]
CMD ["serve"]
