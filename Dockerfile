# syntax=docker/dockerfile:1
# One image for every agentplane service; the service is chosen by SERVICE (build arg for the
# default, or env at run time): gateway | planner | rate-limiter | executor | cost-accounting |
# audit. `demo` runs the demo tools + workload of `npm start` (compose only).
#   docker build --build-arg SERVICE=planner -t agentplane/planner .
# Validated without a Docker engine by scripts/validate-deploy.js (dockerfile-utils + rules).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json .swcrc ./
COPY apps apps
COPY libs libs
COPY scripts/src scripts/src
COPY test/fixtures test/fixtures
# Same layout as local builds (dist/apps/<svc>/src/main.js); the demo needs its tool server.
RUN npx --no-install swc apps libs scripts/src test/fixtures -d dist --copy-files -q \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:24-bookworm-slim AS runtime
ARG SERVICE=gateway
LABEL org.opencontainers.image.title="agentplane" \
      org.opencontainers.image.description="Control plane for fleets of tool-using AI agents" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    SERVICE=${SERVICE} \
    AGENTPLANE_CONFIG=/app/config/ \
    AUDIT_SIGNING_KEY_FILE=/var/lib/agentplane/audit-signing-key.pem \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules node_modules
COPY --from=build --chown=node:node /app/dist dist
COPY --chown=node:node package.json ./
COPY --chown=node:node config config
COPY --chown=node:node schemas schemas
# The one writable path (audit's signing key when it creates one); a volume in compose.
RUN mkdir -p /var/lib/agentplane && chown node:node /var/lib/agentplane
# Non-root: the official image's `node` user (uid 1000).
USER node
EXPOSE 8080 8081 8082 8083 8084 8085
HEALTHCHECK --interval=10s --timeout=4s --start-period=60s --retries=3 \
  CMD ["sh", "-c", "[ \"$SERVICE\" = demo ] || exec node dist/libs/platform/src/healthcheck.js \"$SERVICE\""]
# exec: node is PID 1 and gets SIGTERM itself (graceful drain, exit 0).
CMD ["sh", "-c", "if [ \"$SERVICE\" = demo ]; then exec node --enable-source-maps dist/scripts/src/demo.js; else exec node --enable-source-maps dist/apps/${SERVICE}/src/main.js; fi"]
