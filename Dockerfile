# syntax=docker/dockerfile:1
#
# hello-world: one static musl binary on distroless, running as 65532:65532.
#
# `Dockerfile` and `Dockerfile.distroless` are the same file, kept byte-identical by the tests:
# `Dockerfile` so that the tutorial's `docker build -t hello-world:1.0.0 .` works unchanged, a
# copy rather than a symlink because BuildKit does not reliably follow a symlinked Dockerfile.
#
#   docker build -t hello-world:1.0.0 .
#   docker build -f Dockerfile.distroless -t hello-world:1.0.0 .
#   podman build -f Dockerfile.distroless -t hello-world:1.0.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -f Dockerfile.distroless -t hello-world:1.0.0 .
#
# Build args (labels only): VERSION, REVISION (e.g. `--build-arg REVISION=$(git rev-parse HEAD)`), SOURCE.
# See docs/image.md for the reasons behind each choice.

# ---------------------------------------------------------------------------------------------
# Builder: runs on the build machine's own platform and cross-compiles to the target platform,
# so an arm64 image built on an amd64 runner (or the reverse on Apple Silicon) needs no emulation.
# Pinned to the toolchain minor version the project is tested with.
FROM --platform=$BUILDPLATFORM rust:1.95-slim-bookworm AS builder

WORKDIR /src

# How the musl targets link comes from the repository's .cargo/config.toml (copied with the
# sources in step 3), the same file a local `cargo build --target ...` uses: rust-lld, shipped
# with the toolchain, against the CRT objects and libc bundled in the target's rust-std. No cross
# gcc, no musl-tools, whichever way we cross. CARGO_INCREMENTAL=0: release builds are not
# incremental anyway, and it keeps the cached target dir small.
ENV CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never

# 1. Dependencies, before any source is copied: this layer only reruns when Cargo.toml or
#    Cargo.lock change. The crate sources downloaded here live in the registry cache mount, which
#    later builds (and the build step below) reuse. Cargo refuses a manifest whose targets are
#    missing, so stub the default ones and every explicit `path = "*.rs"` (benches, tests), and
#    the dev-only harness crate `testkit` (a path dependency: cargo reads its manifest to resolve
#    the lock file even for a binary-only build; its sources are never compiled here).
COPY Cargo.toml Cargo.lock ./
COPY testkit/Cargo.toml testkit/
RUN --mount=type=cache,id=hello-world-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=hello-world-cargo-git,target=/usr/local/cargo/git \
    set -eu; \
    mkdir -p src testkit/src; echo 'fn main() {}' > src/main.rs; : > src/lib.rs; : > testkit/src/lib.rs; \
    for p in $(sed -n 's/^ *path *= *"\([^"]*\.rs\)".*/\1/p' Cargo.toml); do \
        mkdir -p "$(dirname "$p")"; echo 'fn main() {}' > "$p"; \
    done; \
    cargo fetch --locked

# 2. The target triple, from the platform being built for (set by BuildKit and buildah).
#    Anything but amd64/arm64 stops the build here rather than producing a wrong binary.
ARG TARGETARCH
RUN set -eu; \
    case "${TARGETARCH:-}" in \
        amd64) triple=x86_64-unknown-linux-musl ;; \
        arm64) triple=aarch64-unknown-linux-musl ;; \
        *) echo "Dockerfile.distroless: unsupported TARGETARCH '${TARGETARCH:-}' (supported: amd64, arm64)" >&2; exit 1 ;; \
    esac; \
    rustup target add "$triple"; \
    echo "$triple" > /target-triple

# 3. Sources, then the build. target/ is a cache mount, so only what changed recompiles; the
#    binary is copied *out* of it because a cache mount is not part of any layer. Both triples
#    share it (their outputs live in target/<triple>/); sharing=locked serialises builds using it.
#    Cargo decides that this crate is fresh by comparing mtimes, which is wrong for a cache shared
#    by different checkouts (another worktree's build, older mtimes): so the sources are hashed,
#    and when the hash differs from the last build's, they are touched to force a recompile.
#    The readelf check fails the build if the binary ever stops being static (a dynamic binary
#    would not start on distroless/static: there is no libc there).
COPY . .
RUN --mount=type=cache,id=hello-world-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=hello-world-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=hello-world-target,target=/src/target,sharing=locked \
    set -eu; \
    [ -f .cargo/config.toml ] || { echo "Dockerfile.distroless: .cargo/config.toml (the musl linker settings) is missing from the build context: see .dockerignore" >&2; exit 1; }; \
    triple="$(cat /target-triple)"; \
    stamp="target/.sources-$triple.sha256"; \
    sum="$(find . -path ./target -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)"; \
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then \
        find . -path ./target -prune -o -type f -exec touch {} +; \
    fi; \
    cargo build --locked --release --target "$triple"; \
    echo "$sum" > "$stamp"; \
    mkdir -p /out; \
    cp "target/$triple/release/hello-world" /out/hello-world; \
    if readelf -lW /out/hello-world | grep -q 'program interpreter'; then \
        echo "Dockerfile.distroless: /out/hello-world is dynamically linked" >&2; exit 1; \
    fi

# ---------------------------------------------------------------------------------------------
# Runtime: distroless static = CA certificates, tzdata, /etc/passwd with nonroot (65532), no
# shell, no package manager, no libc. In production pin it by digest as well:
#   gcr.io/distroless/static-debian12:nonroot@sha256:<digest>
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=1.0.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/hello-world-k8s/hello-world
LABEL org.opencontainers.image.title="hello-world" \
      org.opencontainers.image.description="The reference hello-world service for Kubernetes" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/hello-world /hello-world

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
# For docker/podman only (Kubernetes ignores it and uses the chart's probes). podman keeps it
# only with `--format docker`; its default OCI format has no healthcheck field.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/hello-world", "healthcheck"]
# Exec form: the binary is PID 1 and receives SIGTERM itself (it drains, then exits 0).
ENTRYPOINT ["/hello-world"]
