# syntax=docker/dockerfile:1
# One image for every control-plane process, chosen by its command:
#   api (default)   node dist/apps/api/main.js
#   installer       node dist/apps/installer/main.js
#   projections     node dist/apps/projections/main.js
#   cli             node dist/apps/cli/main.js keys create …
# Production refuses to start without DATABASE_URL (NODE_ENV=production: no embedded PostgreSQL).

ARG NODE_IMAGE=node:20.19.5-bookworm-slim

# 1. Build: every dependency (TypeScript and the type packages are dev dependencies), then dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are not needed to compile (they fetch telemetry or unpack the embedded PostgreSQL).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
COPY projections ./projections
COPY scripts ./scripts
COPY bench ./bench
COPY test/support ./test/support
RUN npm run -s build

# 2. Production dependencies only: what `npm ci --omit=dev` installs is all the processes load.
FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. Runtime: dist/ and the production node_modules, run as an unprivileged user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The base image's `node` user (uid 1000), numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000 9464
# The API answers on PORT; the installer and projections on HEALTH_PORT (set it for them). Kubernetes
# ignores this and uses the probes of deploy/kubernetes; docker compose sets its own per service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "dist/apps/api/main.js"]
