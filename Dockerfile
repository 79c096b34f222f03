# tollgate: one proxy replica. docker-compose.yml runs three of these behind nginx, sharing Redis.
# The build stage compiles TypeScript to dist/; the image runs the compiled JavaScript.
FROM node:20-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /build/dist ./dist
COPY config.yaml ./
COPY deploy/config.compose.yaml ./deploy/config.compose.yaml

# config.yaml binds 127.0.0.1, unreachable from outside a container; this one binds 0.0.0.0 and needs keys.
ENV TOLLGATE_CONFIG=/app/deploy/config.compose.yaml

# The settle journal's folder (store.journal_dir), owned by the user the proxy runs as: a volume
# mounted there starts with this ownership.
RUN mkdir -p /var/lib/tollgate/journal && chown node:node /var/lib/tollgate/journal

USER node
EXPOSE 8787

# Slim images have no curl; node's own fetch does the probe. /ready, not /health: it fails while the
# replica cannot reach its budget store, which /health (the process is up) never notices.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/ready',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node itself is the main process (not npm), so SIGTERM reaches it and the proxy drains before exiting.
CMD ["node", "dist/main.js"]
