#!/bin/bash
# Build the six Kubernetes 1.20.2 binaries in a prepared Debian source tree (see scripts/install-k8s.sh).
# Usage: scripts/k8s/build.sh SRC_TREE   -- prints "BUILD rc=<rc> seconds=<s>" last; exit status = make's.
# CGO_ENABLED=0 as in debian/rules (static kubelet too); GOPROXY=off: everything is vendored, nothing is fetched.
set -u
src=${1:?usage: build.sh SRC_TREE}
cd "$src" || exit 1
export GOPATH=$PWD/.go CGO_ENABLED=0 GOPROXY=off GOFLAGS= HOME=$PWD/.home
mkdir -p "$HOME"
start=$(date +%s)
KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
  nice -n 19 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubectl" \
  GOFLAGS="-tags=providerless" GOLDFLAGS="-s -w"
rc=$?
echo "BUILD rc=$rc seconds=$(($(date +%s) - start))"
exit $rc
