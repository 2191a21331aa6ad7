# syntax=docker/dockerfile:1
# Switchboard image: build with the full toolchain, run with production deps only.
#   docker build -t switchboard:0.1.0 .
#   docker run --rm -p 5050:5050 -e JWT_SECRET=change-me switchboard:0.1.0

ARG NODE_IMAGE=node:24-slim

# ---- build: compile TypeScript to dist/ --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && test -f dist/main.js

# ---- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini runs as PID 1: it forwards SIGTERM to node and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 switchboard \
 && useradd --uid 10001 --gid switchboard --no-create-home --shell /usr/sbin/nologin switchboard

ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# Numeric uid so that Kubernetes can check runAsNonRoot.
USER 10001:10001
EXPOSE 5050
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5050) + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
