# Builds the `wharf` binary and runs it on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wharf

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wharf /usr/local/bin/wharf
ENV WHARF_LISTEN=0.0.0.0:8080 WHARF_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["wharf"]
CMD ["serve"]
