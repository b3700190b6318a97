# signgate container image: build with the Rust toolchain, run from scratch as a non-root user.
#
#   podman build --pull=never --format docker -t signgate:latest .   (docker build works too)
#   podman run --rm -p 8080:8080 -e SIGNGATE__AUTH__API_KEY=... signgate:latest
#
# --format docker keeps HEALTHCHECK, which the OCI image format has no field for.
#
# The runtime image holds the binary, the shared libraries it links (found with ldd, plus the
# dynamic loader), the CA bundle, /etc/passwd and /etc/group naming the signgate user, /tmp and
# the store volume: no shell, no package manager. docs/operations.md lists the files.

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
# The release profile strips symbols (Cargo.toml), so the binary is copied as it is linked.
COPY . .
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN cargo build --release --locked \
 && ./target/release/signgate --version

# The runtime tree, laid out under /rootfs: the binary, and every shared library ldd resolves
# for it at the path the loader looks it up (the loader itself at the binary's PT_INTERP path,
# e.g. /lib64/ld-linux-x86-64.so.2), symbolic links resolved since scratch has no /lib link.
# Their Debian copyright files go along where the build image has them (glibc is LGPL).
RUN mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp /rootfs/usr/share/doc /rootfs/var/lib/signgate \
 && cp target/release/signgate /rootfs/usr/local/bin/signgate \
 && libs=$(ldd target/release/signgate | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}') \
 && test -n "$libs" \
 && for lib in $libs; do \
      mkdir -p "/rootfs$(dirname "$lib")" && cp -L "$lib" "/rootfs$lib"; \
      pkg=$(dpkg -S "*/$(basename "$lib")" | head -n1 | cut -d: -f1); \
      if [ -e "/usr/share/doc/$pkg/copyright" ]; then \
        mkdir -p "/rootfs/usr/share/doc/$pkg" \
          && cp -L "/usr/share/doc/$pkg/copyright" "/rootfs/usr/share/doc/$pkg/copyright"; \
      fi; \
    done \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nsigngate:x:10001:10001:signgate:/var/lib/signgate:/sbin/nologin\n' \
      > /rootfs/etc/passwd \
 && printf 'root:x:0:\nsigngate:x:10001:\n' > /rootfs/etc/group \
 && printf 'passwd: files\ngroup: files\nhosts: files dns\n' > /rootfs/etc/nsswitch.conf \
 && chmod 1777 /rootfs/tmp \
 && chown 10001:10001 /rootfs/var/lib/signgate \
 && chmod 0750 /rootfs/var/lib/signgate \
 && chroot /rootfs /usr/local/bin/signgate --version

# ---- CA certificates ------------------------------------------------------------------------
# The gateway checks the vendors' HTTPS certificates against the Mozilla roots compiled into it
# (reqwest's rustls-tls feature, webpki-roots). The system bundle is kept at Debian's path,
# /etc/ssl/certs/ca-certificates.crt, where a build using the system store instead
# (rustls-native-certs) and any tool added to the image look for it. Debian's bundle, from a stage of its own so that nothing the build image's CA store may hold
# besides it (a build host's own CA) reaches the runtime image. Versions are not pinned on
# purpose: the base is pinned to bookworm, and pinned versions break the build whenever Debian
# security replaces them, which is exactly when the image must be rebuilt.
FROM debian:bookworm-slim AS certs
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# ---- runtime --------------------------------------------------------------------------------
FROM scratch

LABEL org.opencontainers.image.title="signgate" \
      org.opencontainers.image.description="An HTTP gateway that cancels e-signature documents at several e-signature vendors." \
      org.opencontainers.image.licenses="MIT"

# scratch has no shell to chown with: the store directory /var/lib/signgate is made in the build
# stage, owned by the signgate user with mode 0750, and COPY --from keeps owners and modes.
COPY --from=build /rootfs/ /
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=certs /usr/share/doc/ca-certificates/copyright /usr/share/doc/ca-certificates/copyright

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
