#!/usr/bin/env bash
# Rebuild the Helm charts of tests/data/charts from their upstream sources.
#
# Flux's example fleet repository (tests/data/flux2-kustomize-helm-example)
# installs podinfo, cert-manager and Envoy Gateway's gateway-helm. This machine
# has no internet, but the Go module proxy serves each project's module zip,
# which carries its chart directory. Each chart is packaged here with the
# pinned helm the way its project's release packages it (see VENDORED.md
# there for the steps each one copies). The charts land in OUT (default
# tests/data/charts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/tests/data/charts}
tools_dir=${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}
helm="$tools_dir/bin/helm"
python="$root/.venv/bin/python"

PODINFO_MODULE=github.com/stefanprodan/podinfo@v1.8.1-0.20250910200901-e86405a8674e
CERT_MANAGER_MODULE=github.com/cert-manager/cert-manager@v1.21.2
GATEWAY_MODULE=github.com/envoyproxy/gateway@v1.9.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# helm reads and writes only here: no user repositories or registry logins leak in.
export HOME="$work/home" HELM_CACHE_HOME="$work/home/cache" \
  HELM_CONFIG_HOME="$work/home/config" HELM_DATA_HOME="$work/home/data"
mkdir -p "$HOME" "$out"

fetch_module() { # fetch_module MODULE@VERSION: sets $module to its unpacked (read-only) folder
  local info
  info=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$1")
  module=$("$python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  # helm stamps SOURCE_DATE_EPOCH on every file it packs, so the same sources
  # give the same bytes: the module version's time, as the proxy records it.
  SOURCE_DATE_EPOCH=$("$python" -c '
import datetime, json, sys
info = json.load(open(json.load(sys.stdin)["Info"]))
print(int(datetime.datetime.fromisoformat(info["Time"].replace("Z", "+00:00")).timestamp()))
' <<<"$info")
  export SOURCE_DATE_EPOCH
}

copy_chart() { # copy_chart SOURCE NAME: a writable copy of a chart folder
  cp -R "$1" "$work/$2"
  chmod -R u+w "$work/$2"
  echo "$work/$2"
}

# podinfo: its release workflow runs `helm package charts/podinfo` as is.
fetch_module "$PODINFO_MODULE"
podinfo=$(copy_chart "$module/charts/podinfo" podinfo)
"$helm" package "$podinfo" --destination "$out"

# cert-manager (make/manifests.mk): the chart folder minus tests/, README.md
# from README.template.md with the release version, Chart.yaml given the
# signing-key annotation, prerelease "false", version and appVersion, then
# `helm package --app-version=VERSION --version=VERSION`.
version=v1.21.2
fetch_module "$CERT_MANAGER_MODULE"
source="$module/deploy/charts/cert-manager"
chart="$work/cert-manager"
mkdir -p "$chart/templates"
cp "$source"/templates/*.yaml "$source/templates/NOTES.txt" "$source/templates/_helpers.tpl" \
  "$chart/templates/"
cp "$source/values.yaml" "$source/values.schema.json" "$source/.helmignore" "$chart/"
sed -e "s:{{RELEASE_VERSION}}:$version:g" <"$source/README.template.md" >"$chart/README.md"
"$python" - "$source" "$chart" "$version" <<'PY'
import sys
from pathlib import Path

import yaml

source, chart, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
meta = yaml.safe_load((source / "Chart.yaml").read_text())
meta["annotations"]["artifacthub.io/signKey"] = (source / "signkey_annotation.txt").read_text()
meta["annotations"]["artifacthub.io/prerelease"] = "false"
meta["version"] = meta["appVersion"] = version
(chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
PY
chmod -R u+w "$chart"
"$helm" package --app-version="$version" --version="$version" --destination "$out" "$chart"

# gateway-helm (tools/make/helm.mk, .github/workflows/release.yaml): values.yaml
# from values.tmpl.yaml by envsubst with the release image, `helm dependency
# update`, `helm lint`, then `helm package` at the version without its "v".
tag=v1.9.1
fetch_module "$GATEWAY_MODULE"
gateway=$(copy_chart "$module/charts/gateway-helm" gateway-helm)
GatewayImage=docker.io/envoyproxy/gateway:$tag GatewayImagePullPolicy=IfNotPresent \
  envsubst <"$gateway/values.tmpl.yaml" >"$gateway/values.yaml"
"$helm" dependency update "$gateway"
"$helm" lint "$gateway"
"$helm" package "$gateway" --app-version "$tag" --version "${tag#v}" --destination "$out"
