# syntax=docker/dockerfile:1
# mtls-gateway container image: built with dev dependencies, shipped with dist/ and production
# dependencies only, on the current Node LTS. Runs as a non-root user with a read-only root
# filesystem (ECS gives /tmp as a volume). The base is pinned to an exact release; the pipeline's
# image scan and a base-image bump are how it moves. .ci/run tests the code on this same release.
# test/deploy/ lints this file; `npm run image:build` builds it and the smoke test runs the image.
ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# OCI labels: where the image comes from (scripts/image-build.sh and the pipeline pass these).
ARG OCI_SOURCE=unknown
ARG OCI_REVISION=unknown
ARG OCI_VERSION=unknown
LABEL org.opencontainers.image.title="mtls-gateway" \
      org.opencontainers.image.source="${OCI_SOURCE}" \
      org.opencontainers.image.revision="${OCI_REVISION}" \
      org.opencontainers.image.version="${OCI_VERSION}"
# Production mode: every trust source must be given explicitly (the task definition does) and
# development certificates are refused. The admin port must be reachable from the load balancer's
# health check inside the VPC; the security group, not the bind address, keeps it private.
ENV NODE_ENV=production \
    GATEWAY_LISTEN=0.0.0.0:8443 \
    GATEWAY_ADMIN_LISTEN=0.0.0.0:9090
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's "node" user; files stay root-owned, so the process cannot change its own code.
USER 1000:1000
EXPOSE 8443 9090
# The gateway drains on SIGTERM (GATEWAY_DRAIN_SECONDS); ECS stopTimeout leaves it that long.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["node", "dist/cli/main.js", "healthcheck"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
