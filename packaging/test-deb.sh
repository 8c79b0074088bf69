#!/usr/bin/env bash
# Builds the .deb, checks its control fields and file list, installs it on this machine with apt,
# runs the installed binary from outside the source tree on the installed demo, and removes it
# again. Needs root (or sudo) and apt; slow (a release build), so not part of .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
fail() { echo "test-deb.sh: FAIL: $*" >&2; exit 1; }

# The validators of the desktop entry and the AppStream file.
for tool in desktop-file-utils:desktop-file-validate appstream:appstreamcli; do
    command -v "${tool#*:}" >/dev/null || missing+=("${tool%%:*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

packaging/build-deb.sh
deb=$(ls -t target/debian/univa-studio_*.deb | head -n1)
deb=$(realpath "$deb")
echo "== $deb: $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)"

echo "== control"
dpkg-deb -f "$deb" Package Version Architecture Section Depends Recommends
[ "$(dpkg-deb -f "$deb" Package)" = univa-studio ] || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libasound2 libopenblas libc6; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done

echo "== files (per top folder under /usr)"
list=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $NF}' | sed 's|^\./||')
echo "$list" | awk -F/ '{ key = ($2 == "share") ? $1 "/" $2 "/" $3 : $1 "/" $2; n[key]++ } END { for (k in n) printf "  %5d %s\n", n[k], k }' | sort -k2
for path in usr/bin/univa \
    usr/share/univa-studio/assets/demo/manifest.toml usr/share/univa-studio/assets/demo/utterances.csv \
    usr/share/univa-studio/models/demo/config.json usr/share/univa-studio/models/text-va/config.json \
    usr/share/univa-studio/models/fer-emotion/model.safetensors usr/share/univa-studio/models/manifest.toml \
    usr/share/univa-studio/models/fetch.sh usr/share/applications/univa-studio.desktop \
    usr/share/metainfo/io.github.univa_studio.UniVAStudio.metainfo.xml \
    usr/share/icons/hicolor/scalable/apps/univa-studio.svg usr/share/icons/hicolor/48x48/apps/univa-studio.png \
    usr/share/icons/hicolor/128x128/apps/univa-studio.png usr/share/icons/hicolor/256x256/apps/univa-studio.png \
    usr/share/man/man1/univa.1.gz usr/share/man/man1/univa-train.1.gz \
    usr/share/bash-completion/completions/univa usr/share/zsh/vendor-completions/_univa \
    usr/share/fish/vendor_completions.d/univa.fish; do
    grep -qx "$path" <<< "$list" || fail "the package lacks /$path"
done
grep -q "models/cache" <<< "$list" && fail "the package holds fetched third-party files (models/cache)"

echo "== install"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$deb" >/dev/null
share=/usr/share/univa-studio
desktop-file-validate /usr/share/applications/univa-studio.desktop
appstreamcli validate --no-net /usr/share/metainfo/io.github.univa_studio.UniVAStudio.metainfo.xml

# From an empty folder: the bundle lookup, not the working directory, must find the files,
# and the installed copy comes before the source tree the binary was built from.
away=$(mktemp -d)
cd "$away"
echo "== $(command -v univa) --version"; univa --version
echo "== univa validate $share/assets/demo"; univa validate "$share/assets/demo"
echo "== univa eval (installed demo model and dataset)"
univa eval --run "$share/models/demo" --dataset "$share/assets/demo" --split test --json | tee "$away/eval.json"
grep -q '"' "$away/eval.json" || fail "eval printed no JSON"
echo "== univa models list"; univa models list | tee "$away/models.txt"
grep -qx "manifest: $share/models/manifest.toml" "$away/models.txt" || fail "the installed manifest is not the one found"
cd /
rm -rf "$away"

echo "== remove"
DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y -qq univa-studio >/dev/null
[ ! -e /usr/bin/univa ] || fail "/usr/bin/univa is still there"
[ ! -e "$share" ] || fail "$share is still there"
[ ! -e /usr/share/applications/univa-studio.desktop ] || fail "the desktop entry is still there"
dpkg -s univa-studio >/dev/null 2>&1 && ! dpkg -s univa-studio | grep -q "Status: deinstall ok config-files" && fail "univa-studio is still installed"
echo "test-deb.sh: ok"
