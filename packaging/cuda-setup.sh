#!/usr/bin/env bash
# Installs a CUDA toolkit (nvcc, headers, cudart, cuBLAS, cuRAND, NVRTC) from NVIDIA's PyPI
# wheels into a prefix, arranges it as a CUDA_HOME tree, and prints what `cargo build --features
# cuda` needs. No root, no system CUDA. CUDA 13 by default: the CUDA 12 `nvidia-cuda-nvcc-cu12`
# wheels (12.4–12.9) ship ptxas but not the nvcc driver, which candle's kernels need. Usage:
#
#   bash packaging/cuda-setup.sh [PREFIX]          # default PREFIX: ./.cuda (git-ignored)
#   eval "$(bash packaging/cuda-setup.sh --env [PREFIX])"
#   cargo build --release --features cuda
#
# The wheels hold no GPU driver. Linking needs libcuda.so: the driver's when one is installed,
# otherwise a stub built here from the CUDA driver functions cudarc declares (like the toolkit's
# own lib64/stubs/libcuda.so); at run time the real driver's libcuda.so.1 is loaded instead.
set -euo pipefail

print_env_only=0
if [ "${1:-}" = "--env" ]; then
  print_env_only=1
  shift
fi
PREFIX=$(realpath -m "${1:-$PWD/.cuda}")
# The compute capability to compile kernels for when no GPU is visible (80: A100, 90: H100/H200).
COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}
CUDA_SERIES=${CUDA_SERIES:-13.0}
TOOLKIT="$PREFIX/toolkit"

env_lines() {
  echo "export CUDA_HOME=$TOOLKIT"
  echo "export CUDA_PATH=$TOOLKIT"
  echo "export CUDA_ROOT=$TOOLKIT"
  echo "export PATH=$TOOLKIT/bin:\$PATH"
  echo "export LIBRARY_PATH=$TOOLKIT/lib64:$TOOLKIT/lib64/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
  echo "export LD_LIBRARY_PATH=$TOOLKIT/lib64\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  echo "export CUDA_COMPUTE_CAP=$COMPUTE_CAP"
}

if [ "$print_env_only" -eq 1 ]; then
  env_lines
  exit 0
fi

log() { echo "cuda-setup: $*" >&2; }

# 1. The wheels, in a venv of their own.
if [ ! -x "$PREFIX/venv/bin/pip" ]; then
  log "creating $PREFIX/venv"
  python3 -m venv "$PREFIX/venv"
fi
series="${CUDA_SERIES}.*"
log "installing the CUDA $CUDA_SERIES wheels"
case "$CUDA_SERIES" in
  12.*) wheels=("nvidia-cuda-nvcc-cu12==$series" "nvidia-cuda-runtime-cu12==$series" "nvidia-cuda-nvrtc-cu12==$series"
                "nvidia-cuda-cccl-cu12==$series" nvidia-cublas-cu12 nvidia-curand-cu12) ;;
  # nvcc's own parts (crt headers, the NVVM compiler) pinned too: unpinned they resolve to the
  # newest release, whose PTX an older driver cannot load.
  *) wheels=("nvidia-cuda-nvcc==$series" "nvidia-cuda-crt==$series" "nvidia-nvvm==$series"
             "nvidia-cuda-runtime==$series" "nvidia-cuda-nvrtc==$series" "nvidia-cuda-cccl==$series"
             "nvidia-cublas==$series" "nvidia-curand") ;;
esac
"$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check "${wheels[@]}"
SITE=$("$PREFIX/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# 2. One CUDA_HOME tree (bin/, include/, lib64/, nvvm/) of links into the wheels.
log "arranging $TOOLKIT"
rm -rf "$TOOLKIT"
mkdir -p "$TOOLKIT/bin" "$TOOLKIT/include" "$TOOLKIT/lib64/stubs"
for pkg in "$SITE"/nvidia/*/; do
  # CUDA 13 wheels share one tree (nvidia/cu13/); CUDA 12 wheels have one folder each.
  [ -d "$pkg/bin" ] && ln -sf "$pkg"bin/* "$TOOLKIT/bin/"
  [ -d "$pkg/include" ] && cp -rs "$pkg"include/. "$TOOLKIT/include/" 2>/dev/null || true
  [ -d "$pkg/lib" ] && ln -sf "$pkg"lib/* "$TOOLKIT/lib64/"
  [ -d "$pkg/nvvm" ] && ln -sfn "$pkg"nvvm "$TOOLKIT/nvvm"
done
# cccl ships its headers one level down in some releases.
[ -d "$TOOLKIT/include/cccl" ] && cp -rs "$TOOLKIT/include/cccl/." "$TOOLKIT/include/" 2>/dev/null || true
# The wheels ship versioned libraries only (libcublas.so.12); the linker wants libcublas.so.
for lib in "$TOOLKIT"/lib64/lib*.so.*; do
  [ -e "$lib" ] || continue
  base=$(basename "$lib")
  ln -sf "$lib" "$TOOLKIT/lib64/${base%%.so.*}.so"
done
# nvcc looks for its own lib64 beside bin/.
[ -e "$TOOLKIT/bin/nvcc" ] || { log "nvcc is missing from the wheels"; exit 1; }

# 3. libcuda.so to link against.
driver=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')
if [ -n "$driver" ]; then
  log "linking against the installed driver $driver"
  ln -sf "$driver" "$TOOLKIT/lib64/stubs/libcuda.so"
else
  log "no GPU driver here: building a stub libcuda.so from cudarc's declarations"
  cudarc_src=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -type d -name 'cudarc-*' 2>/dev/null | sort -V | tail -n1)
  if [ -z "$cudarc_src" ]; then
    log "cudarc's sources are not downloaded yet: run 'cargo fetch' first, then this script again"
    exit 1
  fi
  stub_c="$TOOLKIT/lib64/stubs/libcuda_stub.c"
  grep -rhoE 'fn cu[A-Za-z0-9_]+\(' "$cudarc_src/src/driver/sys" | sed 's/^fn //; s/($//' | sort -u |
    awk '{print "void " $1 "(void) {}"}' > "$stub_c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$TOOLKIT/lib64/stubs/libcuda.so" "$stub_c"
fi

version=$("$TOOLKIT/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
log "CUDA toolkit $version ready in $TOOLKIT"
echo "# Put these in the environment of cargo (or: eval \"\$(bash packaging/cuda-setup.sh --env $PREFIX)\"):"
env_lines
echo "# then: cargo build --release --features cuda"
