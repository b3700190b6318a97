# signgate container image: build with the Rust toolchain, run on debian-slim as a non-root user.
#
#   podman build --pull=never --format docker -t signgate:latest .   (docker build works too)
#   podman run --rm -p 8080:8080 -e SIGNGATE__AUTH__API_KEY=... signgate:latest
#
# --format docker keeps HEALTHCHECK, which the OCI image format has no field for.

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# sqlx macros must not need a live database at build time (uses .sqlx/ when queries are checked).
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# Dependencies first, in their own layer: a dummy lib and main with the real manifest and lock
# file, so editing the sources does not recompile every crate. (A target declared explicitly
# in Cargo.toml, such as a [[bench]] with harness = false, needs its dummy file here too.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && cargo clean --release --package signgate \
 && rm -rf src

# Then everything else the crate compiles in (src/, config/, openapi.yaml, migrations/ wherever
# they live); .dockerignore keeps target/, .git and benchmark output out of the context.
COPY . .
RUN cargo build --release --locked \
 && strip --strip-debug target/release/signgate \
 && ./target/release/signgate --version

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="signgate" \
      org.opencontainers.image.description="An HTTP gateway that cancels e-signature documents at several e-signature vendors." \
      org.opencontainers.image.licenses="MIT"

# ca-certificates: the vendors are called over HTTPS. Versions are not pinned on purpose: the
# base is pinned to bookworm, and pinned versions break the build whenever Debian security
# replaces them, which is exactly when the image must be rebuilt.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 signgate \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /var/lib/signgate --no-create-home --shell /usr/sbin/nologin signgate \
 && mkdir -p /var/lib/signgate \
 && chown 10001:10001 /var/lib/signgate \
 && chmod 0750 /var/lib/signgate

COPY --from=build /src/target/release/signgate /usr/local/bin/signgate

# The defaults (config/default.toml) are compiled into the binary; only the store location
# differs in a container. Secrets (SIGNGATE__AUTH__API_KEY, vendor keys) come from the
# environment at run time, never from the image. A file can be layered on top with
# SIGNGATE_CONFIG=/path/to/config.toml.
ENV SIGNGATE__STORE__URL=sqlite:///var/lib/signgate/signgate.db

WORKDIR /var/lib/signgate
VOLUME /var/lib/signgate
EXPOSE 8080
STOPSIGNAL SIGTERM

# Probes /livez on 127.0.0.1:8080 (the image has no curl); see `signgate healthcheck --help`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/signgate", "healthcheck"]

USER 10001:10001
ENTRYPOINT ["/usr/local/bin/signgate"]
CMD ["serve"]
