#!/usr/bin/env bash
# Makes podman usable on a machine that reaches no container registry (CI sandboxes, air-gapped
# build hosts) and builds locally the two base images the Dockerfile starts from:
#   debian:bookworm-slim  a debootstrap minbase of Debian bookworm, imported as an image
#   rust:1-bookworm       that, plus build tools and this machine's own Rust toolchain
# It prints the environment podman then needs (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
# TMPDIR) for the caller to eval; progress goes to stderr. Run as root. The first run takes
# two to three minutes; later runs reuse the images and take seconds.
#
#   eval "$(tests/container/offline-podman.sh)"
#
# tests/container/smoke.sh runs it when podman is the engine and the base images are missing.
# WORK (default /var/tmp/podman-work) holds podman's storage and configuration; MIRROR is the
# Debian mirror (default: the one apt uses).
set -euo pipefail
WORK=${WORK:-/var/tmp/podman-work}
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)}
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
RUST_PKGS=${RUST_PKGS:-ca-certificates curl git gcc g++ libc6-dev make pkg-config libssl-dev}
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# --- 0. tools (Debian 12 packages: podman 4.3.1 / buildah 1.28 / runc 1.1.5 / netavark 1.4) -------
need=(podman runc netavark aardvark-dns iptables debootstrap catatonit curl)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 1. podman config for this machine ------------------------------------------------------------
mkdir -p "$WORK"/{storage,run,tmp}
nproc_max=$(ulimit -Hu); [[ $nproc_max == unlimited || $nproc_max -gt 32768 ]] && nproc_max=32768
cat > "$WORK/containers.conf" <<EOF
[containers]
# No CAP_SYS_RESOURCE here: podman's default rlimits (nofile=1048576, nproc=4194304) make the OCI
# runtime's setrlimit fail with EPERM. podman lowers its own NPROC hard limit to 32768 at startup.
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=${nproc_max}:${nproc_max}"]

[engine]
# crun 1.8.1 rejects this host's hybrid cgroup layout ("cgroups in hybrid mode not supported,
# drop all controllers from cgroupv2"); runc 1.1.5 copes with it.
runtime = "runc"

[network]
# silences the "Error validating CNI config file /etc/cni/net.d/87-podman-bridge.conflist" warning
network_backend = "netavark"
EOF
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf TMPDIR=$WORK/tmp

# --- 2a. local debian:bookworm-slim ---------------------------------------------------------------
if ! podman image exists localhost/debian:bookworm-slim; then
  t=$SECONDS; R=$WORK/rootfs-slim; rm -rf "$R"
  log "debootstrap minbase bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$R" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; die "debootstrap"; }
  rm -rf "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
         "$R"/usr/share/man/* "$R"/usr/share/locale/* "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/*
  find "$R/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  : > "$R/etc/resolv.conf"; : > "$R/etc/hostname"; rm -f "$R/etc/apt/sources.list"
  cat > "$R/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
    > "$R/etc/dpkg/dpkg.cfg.d/docker-slim"
  cat > "$R/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  tar --numeric-owner -C "$R" -c . | podman import -q \
      --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - localhost/debian:bookworm-slim >/dev/null
  rm -rf "$R"
  for t2 in docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm \
            docker.io/library/debian:12-slim docker.io/library/debian:12; do
    podman tag localhost/debian:bookworm-slim "$t2"; done
  log "debian:bookworm-slim ready ($((SECONDS - t))s)"
fi

# --- 2b. local rust:1-bookworm from the host toolchain --------------------------------------------
if ! podman image exists localhost/rust:1-bookworm; then
  t=$SECONDS; C=$WORK/rust-ctx; rm -rf "$C"; mkdir -p "$C"/rustup/toolchains "$C"/cargo/bin "$C"/extra-ca
  SYSROOT=$(rustc --print sysroot)          # e.g. ~/.rustup/toolchains/stable-x86_64-unknown-linux-gnu
  TC=$(basename "$SYSROOT"); RUSTV=$(rustc --version | awk '{print $2}')
  log "rust image from host toolchain $TC ($RUSTV)"
  tar -C "$(dirname "$SYSROOT")" --exclude="$TC/share/doc" -cf - "$TC" | tar -C "$C/rustup/toolchains" -xf -
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' "$TC" \
    > "$C/rustup/settings.toml"
  RUSTUP_BIN=$(readlink -f "$(command -v rustup)")
  cp "$RUSTUP_BIN" "$C/cargo/bin/rustup"
  for b in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-lldb; do
    ln -s rustup "$C/cargo/bin/$b"; done
  chmod -R a+w "$C/rustup" "$C/cargo"          # as the official image does (non-root builder stages)
  # The machine's TLS-intercepting egress CA(s): without them cargo/curl in RUN steps fail
  # with "self-signed certificate in certificate chain".
  cp /usr/local/share/ca-certificates/*.crt "$C/extra-ca/" 2>/dev/null || true
  cat > "$C/Containerfile" <<EOF
FROM localhost/debian:bookworm-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends $RUST_PKGS \\
 && rm -rf /var/lib/apt/lists/*
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION=$RUSTV RUSTUP_AUTO_INSTALL=0 \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY rustup/ /usr/local/rustup/
COPY cargo/ /usr/local/cargo/
RUN cargo --version && rustc --version
CMD ["bash"]
EOF
  podman build --pull=never -q -t localhost/rust:1-bookworm "$C" >/dev/null
  rm -rf "$C"
  for t2 in 1-bookworm 1 latest bookworm "$RUSTV-bookworm" "${RUSTV%.*}-bookworm" "$RUSTV" "${RUSTV%.*}" \
            1-slim-bookworm slim-bookworm "$RUSTV-slim-bookworm" "${RUSTV%.*}-slim-bookworm"; do
    podman tag localhost/rust:1-bookworm "docker.io/library/rust:$t2"; done
  log "rust:1-bookworm ready ($((SECONDS - t))s)"
fi


echo "export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf TMPDIR=$WORK/tmp"
