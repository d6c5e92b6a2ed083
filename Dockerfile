# Tollgate's production image. Build: `docker build -t tollgate .`; run it as docs/operations.md
# says (compose.yaml: two replicas on MongoDB and Redis).
# The policy is compiled and committed (wasm/, `make wasm`), so the build needs no OPA.

# ---------------------------------------------------------------------------- build
FROM node:20-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# `npm run build` = tsc -p tsconfig.json: src/ → dist/
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------- runtime
FROM node:20-slim
WORKDIR /app
# Only what runs: the compiled code, its production dependencies, the policy and the API document
# (found next to dist/, whatever the working directory). Owned by root, so read-only for the server.
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY wasm ./wasm
COPY docs/openapi.json ./docs/openapi.json
ENV TOLLGATE_ENV=production
# The node image's unprivileged user (uid 1000).
USER node
# PORT: /api/ (the gateway); TOLLGATE_INTERNAL_PORT, when set as recommended: everything else.
EXPOSE 8181 9181
# Node itself is PID 1: Tollgate handles SIGTERM and SIGINT (drain, flush the audit queue, exit)
# and reaps its own workers, so neither `docker run --init` nor tini is needed.
CMD ["node", "dist/main.js"]
