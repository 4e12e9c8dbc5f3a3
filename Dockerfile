# syntax=docker/dockerfile:1
# One image per fhir-migrate service, all from this file: `docker build --build-arg SERVICE=<name> .`
# (azd passes SERVICE from azure.yaml). The CLI runs the TypeScript sources through tsx, a runtime
# dependency of the cli workspace, so there is no compile step; only better-sqlite3 is built natively.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: production dependencies only, native modules compiled here (python3/make/g++ never reach runtime)
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Manifests first, so the dependency layer is reused while only sources change. Every workspace's
# manifest is needed for `npm ci` to match the lockfile (test/ contributes its manifest only).
COPY package.json package-lock.json ./
COPY cli/package.json cli/
COPY shared/package.json shared/
COPY services/planner/package.json services/planner/
COPY services/exporter/package.json services/exporter/
COPY services/importer/package.json services/importer/
COPY services/verifier/package.json services/verifier/
COPY services/api/package.json services/api/
COPY test/package.json test/
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force
# Sources (.dockerignore keeps tests, fixtures, docs, infra and the HAPI launcher out).
COPY cli/ cli/
COPY shared/ shared/
COPY services/ services/

# ---- runtime: Node 22 LTS, no compilers, non-root
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=api
# The state path matters even with Cosmos DB and Service Bus: the verifier's full reconciliation keeps its
# scratch database beside it, so it must be somewhere the non-root user may write (not /app).
ENV NODE_ENV=production \
  SERVICE=${SERVICE} \
  FHIR_MIGRATE_STATE=/home/node/fhir-migrate/state.sqlite
WORKDIR /app
# Owned by root and read-only to the process: the service cannot rewrite its own code.
COPY --from=build /app /app
USER node
# Only the api listens (Container Apps ingress targets 8080); the workers have no port.
EXPOSE 8080
# `exec` replaces the shell, so node itself receives Container Apps' SIGTERM and stops gracefully.
CMD ["/bin/sh", "-c", "if [ \"$SERVICE\" = api ]; then exec node cli/bin/fhir-migrate.js service api --host 0.0.0.0 --port 8080; else exec node cli/bin/fhir-migrate.js service \"$SERVICE\"; fi"]
