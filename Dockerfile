# syntax=docker/dockerfile:1
# BRAiN Event Gateway: build with the dev toolchain, run with production dependencies only.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json vite.config.ts ./
COPY src ./src
RUN npm run build

FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Migrations are applied at start (and by `node dist/cli/migrate.js`).
COPY drizzle ./drizzle
COPY package.json ./
# The image's unprivileged `node` user (uid 1000); the app writes nothing to disk.
USER node
EXPOSE 8080
# Ready = Redis and Postgres answer (GET /health/ready); node:20-slim has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node as PID 1 receives SIGTERM directly: close-with-grace drains requests and deliveries.
# The flag is npm start's (README, "Memory").
CMD ["node", "--heap-growing-percent=50", "dist/server.js"]
