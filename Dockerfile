# chatfabric worker image: one worker per container. Kubernetes (or compose) restarts, scales and
# rolls workers, the work PM2 does on one machine, so there is no PM2 inside.
#   docker build -t chatfabric:0.1.0 .

# Build: every dependency, TypeScript compiled to dist/ and the browser client to dist/web.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Everything tsconfig.json and tsconfig.web.json compile, so the build is the one the tests run.
COPY tsconfig.json tsconfig.web.json ./
COPY scripts/build.js scripts/build.js
COPY src src
COPY tui tui
COPY web web
COPY loadtest loadtest
COPY test/support test/support
RUN node scripts/build.js

# Production dependencies only, installed apart so no compiler or test tool reaches the image.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist/src dist/src
# The browser client, served by the worker itself (src/web.ts: dist/web beside dist/src).
COPY --from=build /app/dist/web dist/web
# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# Node's own fetch: the slim image has no curl, and /healthz answers as soon as the server listens.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
# Exec form, no shell in between: SIGTERM reaches node, which drains within DRAIN_TIMEOUT_MS.
CMD ["node", "--max-semi-space-size=2", "dist/src/main.js"]
