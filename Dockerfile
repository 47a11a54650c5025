# syntax=docker/dockerfile:1
#
# oidc-bff container image.
#
#   docker build -t oidc-bff .                  # production image (the default, last stage: runtime)
#   docker build --target dev -t oidc-bff-dev . # demo IdP and demo API for docker-compose.yml (devDependencies)
#
# Stages: deps (npm ci, every dependency) -> dev (demo services, runs TypeScript with tsx)
#                                          -> build (tsc, then prune devDependencies) -> runtime.

# --- deps: the full dependency tree, shared by dev and build --------------------------------------
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- dev: the demo IdP and demo API of docker-compose.yml -----------------------------------------
# oidc-provider is a devDependency (the BFF never needs it), so the demo services cannot run from the
# production image: this target keeps the devDependencies and runs the TypeScript sources with tsx.
FROM deps AS dev
COPY tsconfig.json ./
COPY dev ./dev
COPY src ./src
USER node
CMD ["node", "--import", "tsx", "dev/idp-server.ts"]

# --- build: compile, then drop the devDependencies ------------------------------------------------
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY dev ./dev
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: only what the service runs ----------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
# tini as PID 1 (rather than compose's `init: true`, which Kubernetes and plain `docker run` do not
# have): it forwards SIGTERM to node, so a stop during start-up (before main.ts installs its handler)
# is not ignored the way the kernel ignores unhandled signals sent to PID 1, and it reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the service user: the process cannot rewrite its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY views ./views
USER node
# 3000: public listener (PORT). 9090: admin listener (ADMIN_PORT); publish it on the host's loopback only.
EXPOSE 3000 9090
# Liveness with node itself (the slim image has no curl), on 127.0.0.1: HOST must be 0.0.0.0 (the
# default) or 127.0.0.1. Readiness (/readyz) is for the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
