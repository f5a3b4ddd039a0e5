# syntax=docker/dockerfile:1

# ---- build ----
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config build-essential \
 && rm -rf /var/lib/apt/lists/*
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin upwatch \
 && rm -rf src
COPY migrations ./migrations
COPY src ./src
# Make cargo see the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin upwatch

# ---- run ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin upwatch
COPY --from=build /src/target/release/upwatch /usr/local/bin/upwatch
USER upwatch
ENV UPWATCH_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/upwatch", "check", "http://127.0.0.1:8080/healthz", "--timeout-ms", "2000"]
ENTRYPOINT ["/usr/local/bin/upwatch"]
CMD ["serve"]
