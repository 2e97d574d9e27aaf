# Latchkey's image: the `latchkey` binary and the built dashboard on a distroless runtime, run as
# a non-root user. `make image` builds it (needs a Docker engine); the Helm chart's default
# image is built from this file.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin latchkey

FROM node:20-bookworm-slim AS dashboard
WORKDIR /src
COPY openapi.yaml ./
COPY dashboard/ dashboard/
RUN cd dashboard && npm ci --no-audit --no-fund && npm run build

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/latchkey /usr/local/bin/latchkey
COPY --from=dashboard /src/dashboard/dist /usr/share/latchkey/dashboard
ENV LATCHKEY__SERVER__DASHBOARD_DIR=/usr/share/latchkey/dashboard \
    LATCHKEY__DATA_DIR=/var/lib/latchkey \
    LATCHKEY__LOG__FORMAT=json
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/latchkey"]
CMD ["serve"]
