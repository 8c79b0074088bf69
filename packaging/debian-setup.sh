#!/usr/bin/env bash
# Installs what UniVA Studio needs to build, test and run on Debian 12 (as root, or with sudo).
# Safe to run again: does nothing when everything is already there.
set -euo pipefail

packages=(
  # build: bindgen for ffmpeg-sys, OpenBLAS for the CPU matrix products, FFmpeg 5.1 libraries, ALSA for rodio
  pkg-config libclang-dev libopenblas-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
  libasound2-dev
  # tests: the ffmpeg CLI makes test clips; python3 + pip fetch third-party model files
  ffmpeg python3-pip
  # remote jobs (ssh/rsync) and their tests: a loopback sshd and a one-node Slurm with munge
  openssh-client openssh-server rsync slurm-wlm munge
  # the audit store's server backend: its tests start a loopback PostgreSQL of their own
  postgresql
  # GUI without a display: Xvfb and software rendering
  xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0
  # file dialogs (rfd) where no desktop portal runs: zenity is their fallback
  zenity
  # demo building: speech synthesis
  espeak-ng sox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
