# syntax=docker/dockerfile:1
#
# Tributary container image.
#
#   docker build -t tributary:dev .
#   docker run --rm -p 7443:7443 -p 8080:8080 tributary:dev
#
# Two stages: `build` installs every dependency with `npm ci`, compiles TypeScript to dist/
# (`npm run build`) and prunes dev dependencies; `runtime` gets only package.json, the pruned
# node_modules and dist/ (which will also hold the built web UI, dist/web). Sources, tests, protos
# and the npm cache stay in the build stage. test/integration/deploy-dockerfile.test.ts replays the
# build stage in a temporary directory and starts the runtime file set.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the dependency layer is reused while only sources change.
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root and read-only for the service user; the process writes only to /tmp
# (an emptyDir in deploy/ and the chart, which run with a read-only root filesystem).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The commands the tigera operator renders for Goldmane (docs/deploy.md "Calico operator"): exec
# probes `/health -ready|-live` (operator v1.38–v1.42) and `/usr/bin/calico health …` plus the
# command `/usr/bin/calico component goldmane` (v1.43+). One small CommonJS file answers all of
# them (src/entry/calico.cts); it finds /app/dist/src/main.js for `component goldmane`.
COPY --from=build --chmod=0755 /app/dist/src/entry/calico.cjs /usr/bin/calico
COPY --from=build --chmod=0755 /app/dist/src/entry/calico.cjs /health
# Numeric, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 65532:65532
# 7443: gRPC, gRPC-web and Connect (PORT); 8080: /liveness and /readiness (HEALTH_PORT);
# 9095: /metrics when PROMETHEUS_PORT=9095 (off by default: PROMETHEUS_PORT=0).
EXPOSE 7443 8080 9095
# For plain `docker run`; Kubernetes ignores it and uses the Deployment's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || 8080) + '/liveness').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["serve"]
