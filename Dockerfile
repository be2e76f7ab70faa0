# syntax=docker/dockerfile:1
#
# vitals container image.
#
#   docker build -t vitals .
#   docker run --rm -p 9470:9470 vitals
#
# The image runs `vitals run -c /etc/vitals/vitals.yaml` (the shipped config/vitals.yaml: it
# serves /health, /ready and /metrics on :9470 and probes its own /health). Mount your own
# file over /etc/vitals/vitals.yaml, or set VITALS_LISTEN, VITALS_STORAGE, VITALS_SELF_PORT and
# VITALS_API_TOKEN, which that file reads.

# ---- build ----------------------------------------------------------------------------------
# rust:1 tracks the latest stable toolchain; the crate uses edition 2024 and let-chains,
# so it needs Rust 1.88 or newer.
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole crate (see .dockerignore): Cargo.toml names agent/, and benches/ for its [[bench]].
COPY . .
# The registry and target caches are BuildKit cache mounts, so the binary is copied out of
# the cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin vitals \
 && install -D -m 0755 target/release/vitals /out/usr/local/bin/vitals \
 && install -d -m 0750 /out/var/lib/vitals

# ---- runtime --------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc and CA certificates (for https:// probes), no shell, no package
# manager. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/vitals /usr/local/bin/vitals
COPY config/vitals.yaml /etc/vitals/vitals.yaml
COPY rules/*.yml /etc/vitals/rules/
ENV VITALS_RULES=/etc/vitals/rules/*.yml
# Durable state (alert state, silences, the notification outbox) lives here; it must be
# writable by the non-root user, so the directory is created in the build stage and chowned.
COPY --from=build --chown=65532:65532 /out/var/lib/vitals /var/lib/vitals
ENV VITALS_STORAGE=/var/lib/vitals
WORKDIR /var/lib/vitals
VOLUME ["/var/lib/vitals"]
USER 65532:65532
# 9470: HTTP API (/health, /ready, /metrics, Prometheus query API, status page).
# 4317/4318: OTLP gRPC/HTTP receivers (only listening once `otlp:` is configured).
EXPOSE 9470 4317 4318
# No HEALTHCHECK: distroless has no shell or curl to run one. Orchestrators should probe
# GET /health (liveness) and GET /ready (readiness) on :9470 instead, as the Kubernetes
# manifests in deploy/ do.
ENTRYPOINT ["/usr/local/bin/vitals"]
CMD ["run", "-c", "/etc/vitals/vitals.yaml"]
