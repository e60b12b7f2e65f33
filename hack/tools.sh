#!/usr/bin/env bash
# Build the pinned upstream tools into the tool cache, in the envtest layout
# (etcd, kube-apiserver, kubectl side by side in one bin folder), plus the
# control-plane parts and simulated nodes a workload-capable sandbox runs
# (kube-controller-manager, kube-scheduler, kwok), and the S3-compatible server
# the Bucket tests run (versitygw).
# Each tool lands in $SLUICE_TOOLS_DIR/bin; a stamp file records the version
# it was built at, so a warm run does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools.env
. "$here/tools.env"

tools_dir=${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}
bin="$tools_dir/bin"
stamps="$tools_dir/stamps"
mkdir -p "$bin" "$stamps"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
export CGO_ENABLED=0

fresh() { # fresh NAME VERSION: true when NAME is already built at VERSION
  [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ] && [ -x "$bin/$1" ]
}
stamp() { echo "$2" >"$stamps/$1"; }
log() { printf 'tools: %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null || {
    log "Go toolchain not found: install it (apt-get install golang, or https://go.dev/dl) and re-run 'make tools'"
    exit 1
  }
}

go_install() { # go_install NAME PACKAGE@VERSION VERSION [LDFLAGS]
  local name=$1 pkg=$2 version=$3 ldflags=${4:-}
  if fresh "$name" "$version"; then return; fi
  need_go
  log "building $name $version ($pkg)"
  GOBIN="$bin" go install -ldflags "$ldflags" "$pkg"
  stamp "$name" "$version"
}

wrapped_build() { # wrapped_build DIR MODULE VERSION LOCAL_VERSION PKG...
  # A module whose go.mod replaces its siblings with local paths can't be
  # built with `go install`: build it from a wrapper module that replaces
  # each sibling with its published release (LOCAL_VERSION) instead.
  local dir=$1 module=$2 version=$3 local_version=$4
  shift 4
  local gomod
  mkdir -p "$dir"
  rm -f "$dir/go.mod" "$dir/go.sum"
  gomod=$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module sluice.local/tools"
    echo
    echo "go 1.24"
    echo
    echo "require $module $version"
    echo
    echo "replace ("
    grep -E '=> (\.\./|\./staging/)' "$gomod" | awk -v s="$local_version" '{sub(/^[ \t]*replace[ \t]+/, ""); print "\t" $1 " => " $1 " " s}'
    echo ")"
  } >"$dir/go.mod"
  { echo "package tools"; echo; echo "import ("; for p in "$@"; do printf '\t_ "%s"\n' "$p"; done; echo ")"; } >"$dir/tools.go"
  # tools.go imports each main package's library part so `go mod tidy` keeps
  # its dependencies; the binaries themselves are built by the caller.
  (cd "$dir" && go mod tidy)
}

# The binaries built from the k8s.io/kubernetes module, all at one version.
KUBERNETES_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

build_kubernetes() {
  local v=$KUBERNETES_VERSION name missing=0
  for name in "${KUBERNETES_BINARIES[@]}"; do
    fresh "$name" "$v" || missing=1
  done
  if [ "$missing" = 0 ]; then return; fi
  need_go
  log "building ${KUBERNETES_BINARIES[*]} $v (several minutes cold)"
  local dir="$tools_dir/src/kubernetes-$v"
  wrapped_build "$dir" k8s.io/kubernetes "v$v" "v0.${v#1.}" \
    k8s.io/kubernetes/cmd/kube-apiserver/app \
    k8s.io/kubernetes/cmd/kube-controller-manager/app \
    k8s.io/kubernetes/cmd/kube-scheduler/app \
    k8s.io/kubectl/pkg/cmd
  # Stamp the version the way Kubernetes' own release build does, so
  # `--version` and the /version endpoint report it.
  local minor=${v#1.}
  minor=${minor%%.*}
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  # One binary at a time: each link of these takes a few GiB of memory.
  for name in "${KUBERNETES_BINARIES[@]}"; do
    fresh "$name" "$v" && continue
    (cd "$dir" && go build -ldflags "$ldflags" -o "$bin/" "k8s.io/kubernetes/cmd/$name")
    stamp "$name" "$v"
  done
}

build_etcd() {
  local v=$ETCD_VERSION
  if fresh etcd "$v"; then return; fi
  need_go
  log "building etcd $v"
  local dir="$tools_dir/src/etcd-$v"
  wrapped_build "$dir" go.etcd.io/etcd/server/v3 "v$v" "v$v" go.etcd.io/etcd/server/v3/etcdmain
  (cd "$dir" && go build -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  stamp etcd "$v"
}

# Flux's controllers, built from their Go modules (for the bench's `--peer flux`).
FLUX_CONTROLLERS=(source-controller kustomize-controller)

flux_version() { # flux_version NAME: the pinned version of one Flux controller
  case $1 in
  source-controller) echo "$FLUX_SOURCE_CONTROLLER_VERSION" ;;
  kustomize-controller) echo "$FLUX_KUSTOMIZE_CONTROLLER_VERSION" ;;
  esac
}

build_flux_controller() { # build_flux_controller NAME
  # Each controller's main package is its module's root and its go.mod
  # replaces its `api` submodule with ./api, which a module download doesn't
  # carry: build it from a wrapper module that requires it, replaces `api`
  # with the published release of the same tag and repeats its other
  # replaces (a dependency's replaces don't apply to the module that needs it).
  local name=$1 v module dir gomod moddir
  v=$(flux_version "$name")
  module="github.com/fluxcd/$name"
  if fresh "$name" "$v" && [ -d "$tools_dir/flux-crds/$name" ]; then return; fi
  need_go
  log "building $name $v (a few minutes cold)"
  dir="$tools_dir/src/$name-$v"
  mkdir -p "$dir"
  rm -f "$dir/go.mod" "$dir/go.sum"
  gomod=$(cd "$dir" && go mod download -json "$module@v$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  moddir=$(cd "$dir" && go mod download -json "$module@v$v" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  {
    echo "module sluice.local/tools"
    echo
    echo "go 1.26.0"
    echo
    echo "require $module v$v"
    echo
    # Every replace of the upstream go.mod, one per line, the local ones
    # (=> ./api) pointed at the published module of the same version.
    awk -v s="v$v" '
      /^replace[ \t]*\($/ { block = 1; next }
      block && /^\)/ { block = 0; next }
      /^replace[ \t]/ { sub(/^replace[ \t]+/, ""); line = $0 }
      block && NF { line = $0 }
      line != "" {
        sub(/^[ \t]+/, "", line)
        sub(/[ \t]*\/\/.*/, "", line)
        split(line, f, /[ \t]+/)
        if (line == "") { }
        else if (f[3] ~ /^\.\.?\//) print "replace " f[1] " => " f[1] " " s
        else print "replace " line
        line = ""
      }' "$gomod"
    # The module proxy serves no source for this patch release (403 "not
    # available"). Its v0.18.x siblings differ from v0.18.0 only in the
    # dependency versions their go.mod asks for (checked up to v0.18.2),
    # and the controller's own requirements raise those to the same ones.
    if grep -q 'github.com/fluxcd/pkg/artifact v0.18.3$' "$gomod"; then
      echo "replace github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0"
    fi
  } >"$dir/go.mod"
  cp "$moddir/go.sum" "$dir/go.sum"
  chmod u+w "$dir/go.sum"
  (cd "$dir" && go get "$module@v$v" && go build -ldflags "-s -w" -o "$bin/$name" "$module")
  # The controller's CRDs, installed on the bench's hub cluster.
  rm -rf "$tools_dir/flux-crds/$name"
  mkdir -p "$tools_dir/flux-crds/$name"
  cp "$moddir"/config/crd/bases/*.yaml "$tools_dir/flux-crds/$name/"
  chmod u+w "$tools_dir/flux-crds/$name"/*.yaml
  stamp "$name" "$v"
}

build_flux() {
  # One at a time: each link takes a GiB or more of memory.
  local name
  for name in "${FLUX_CONTROLLERS[@]}"; do
    build_flux_controller "$name"
  done
  log "flux controllers and CRDs in $tools_dir"
}

main() {
  build_kubernetes &
  local k8s_pid=$!
  build_etcd
  go_install kustomize "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION" "$KUSTOMIZE_VERSION"
  go_install helm "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION" "$HELM_VERSION" \
    "-X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION"
  go_install sops "github.com/getsops/sops/v3/cmd/sops@v$SOPS_VERSION" "$SOPS_VERSION"
  go_install age "filippo.io/age/cmd/age@v$AGE_VERSION" "$AGE_VERSION"
  go_install age-keygen "filippo.io/age/cmd/age-keygen@v$AGE_VERSION" "$AGE_VERSION"
  # kwok carries its version in its source (`kwok --version`).
  go_install kwok "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "$KWOK_VERSION"
  # versitygw prints the version stamped here (`versitygw --version`).
  go_install versitygw "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION" \
    "$VERSITYGW_VERSION" "-X main.Version=v$VERSITYGW_VERSION"
  wait "$k8s_pid" || { log "kubernetes build failed"; exit 1; }
  log "all tools in $bin"
}

# With arguments, run just those steps (e.g. `tools.sh build_etcd`).
if [ $# -gt 0 ]; then "$@"; else main; fi
