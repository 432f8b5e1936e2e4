#!/bin/sh
# gpu.sh - build cellar on a machine with an NVIDIA GPU and check and time
# its CUDA engine in one go, leaving every log and a summary in OUTDIR:
#
#   sh tests/gpu.sh OUTDIR [--fmnist DIR] [--cifar DIR] [--torch FILE] [--epochs E]
#
#   1. configure and build in build-gpu (CUDA on; no screen, no Graphviz,
#      no MPI: only the engine is checked here);
#   1b. tests/gpu_calib.cu: what one kernel costs at least in a CUDA graph,
#      and copy bandwidth by size (GPU-NOTES.md's calibration runs);
#   2. tests/test_cuda: every op of the CUDA backend against the CPU
#      backend, a whole network, a short training that must learn
#      (--fmnist DIR: where Fashion-MNIST's idx files are, when they are not
#      in /usr/share/datasets/fashion-mnist);
#   3. cellar bench --backend cuda for the search proxy (NASNet-A F=16 N=2)
#      and 6@768 (F=32 N=6) at batch 128, and, with --torch FILE (a copy of
#      torch_nasnet.py), PyTorch's eager and CUDA-graph figures in the same
#      run; then the proxy op by op (--profile: time by op class) and
#      whole with cellar's own depthwise and pointwise kernels or cuDNN's
#      (CELLAR_DEPTHWISE, CELLAR_POINTWISE), without graphs, in strict FP32;
#   4. with --cifar DIR (CIFAR-10's binary version): search throughput
#      (the shipped cifar10 search with one-epoch children, one at a time
#      and as many as fit: images per second in all, proxy trials per
#      hour), then the 10-epoch recipe (F=16 N=2, batch 128, lr 0.05
#      cosine) trained on the GPU;
#   5. compute-sanitizer (memcheck) over a few training steps, when it is
#      there.
# The steps come in order of what matters most, so a run cut short still
# leaves the most useful logs.
#
# Every step has a time limit (GPU_STEP_LIMIT seconds, default 240; the
# training GPU_TRAIN_LIMIT, default 300; the sanitizer GPU_SANITIZER_LIMIT,
# default 120), so a hang costs one step, not the run.  OUTDIR/summary.txt collects the lines
# that matter (device, pass/fail counts, JSON lines of the benchmarks).
#
# A GPU machine without Debian's -dev packages: make a sysroot on a Debian
# machine first (sh tests/gpu.sh --sysroot FILE.tar.xz: the headers and
# libraries of Lua, SQLite, zlib and OpenBLAS from Debian's packages, about
# 6 MB), bring the file along and run with SYSROOT=FILE.tar.xz.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = --sysroot ]; then
  dest=${2:?usage: gpu.sh --sysroot FILE.tar.xz}
  pkgs="liblua5.4-dev liblua5.4-0 libsqlite3-dev libsqlite3-0 zlib1g-dev zlib1g
        libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0
        libgfortran5 libquadmath0"
  tmp=$(mktemp -d) || exit 1
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/debs" "$tmp/root"
  # shellcheck disable=SC2086
  ( cd "$tmp/debs" && apt-get download $pkgs >/dev/null 2>&1 ) ||
    { echo "gpu.sh: apt-get download $pkgs failed (apt-get update first?)" >&2; exit 1; }
  for f in "$tmp"/debs/*.deb; do dpkg -x "$f" "$tmp/root" || exit 1; done
  # only what building and running need: no static libraries, LAPACK or docs
  find "$tmp/root" -name '*.a' -delete
  rm -rf "$tmp/root/usr/share/doc" "$tmp/root/usr/share/man" "$tmp"/root/usr/lib/*/openblas-pthread/liblapack*
  tar -cJf "$dest" -C "$tmp" root || exit 1
  ls -l "$dest" | awk '{print "sysroot: " $5 " bytes in " $NF}'
  exit 0
fi

out=${1:?usage: gpu.sh OUTDIR [--fmnist DIR] [--cifar DIR] [--torch FILE] [--epochs E]}
shift
fmnist= cifar= torch= epochs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --fmnist) fmnist=$2; shift 2 ;;
    --cifar) cifar=$2; shift 2 ;;
    --torch) torch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    *) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
sum=$out/summary.txt
: >"$sum"
limit=${GPU_STEP_LIMIT:-240}
note() { echo "$*" | tee -a "$sum"; }
step() { # name command...: run with the time limit, log to OUTDIR/name.log
  name=$1; shift
  t0=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  note "== $name: exit $rc in $(( $(date +%s) - t0 )) s"
  return $rc
}

if [ -n "${SYSROOT:-}" ]; then
  R=$src/build-gpu/sysroot/root
  if [ ! -d "$R" ]; then
    mkdir -p "$src/build-gpu/sysroot" && tar -xJf "$SYSROOT" -C "$src/build-gpu/sysroot" ||
      { echo "gpu.sh: cannot unpack $SYSROOT" >&2; exit 1; }
  fi
  ml=x86_64-linux-gnu
  export PKG_CONFIG_SYSROOT_DIR=$R
  export PKG_CONFIG_LIBDIR="$R/usr/lib/$ml/pkgconfig:$R/usr/lib/$ml/openblas-pthread/pkgconfig:$R/usr/share/pkgconfig"
  export CPATH="$R/usr/include:$R/usr/include/$ml${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$R/usr/lib/$ml:$R/usr/lib/$ml/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$R/usr/lib/$ml:$R/usr/lib/$ml/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
[ -d /usr/local/cuda/bin ] && PATH=/usr/local/cuda/bin:$PATH

note "cellar $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?') on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | sed 's/^/device: /' | tee -a "$sum"
nproc | sed 's/^/cpu cores: /' | tee -a "$sum"

# --- 1. build ---
b=$src/build-gpu
mkdir -p "$b"
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi) >"$out/autoreconf.log" 2>&1
if ! step configure sh -c "cd '$b' && '$src/configure' --without-ncurses --without-graphviz --without-mpi"; then
  tail -20 "$out/configure.log"; exit 1
fi
grep -A12 'configured:' "$out/configure.log" >>"$sum"
if ! step build sh -c "cd '$b' && make -j$(nproc) all && make -j$(nproc) check-programs"; then
  grep -E 'error|Error' "$out/build.log" | head -20 | tee -a "$sum"; exit 1
fi
"$b/cellar" --version | tee -a "$sum"

# --- 1b. calibration: a kernel's floor in a graph, copy bandwidth by size ---
if step gpu_calib sh -c "nvcc -O3 -std=c++17 -o '$b/gpu_calib' '$src/tests/gpu_calib.cu' && '$b/gpu_calib'"; then
  grep '^{' "$out/gpu_calib.log" | sed 's/^/calib: /' | tee -a "$sum"
fi

# --- 2. parity and learning ---
if [ -n "$fmnist" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && ln -s "$(cd "$fmnist" && pwd)" /usr/share/datasets/fashion-mnist
fi
if ! step test_cuda "$b/tests/test_cuda"; then
  # again, waiting after every op, so an error names the op that made it
  step test_cuda_sync env CELLAR_CUDA_SYNC=1 "$b/tests/test_cuda"
  grep -E '^not ok - ' "$out/test_cuda_sync.log" | head -20 | sed 's/^/sync: /' | tee -a "$sum"
fi
grep -c '^ok - ' "$out/test_cuda.log" | sed 's/^/test_cuda ok: /' | tee -a "$sum"
grep -E '^(not ok|skip) - ' "$out/test_cuda.log" | head -40 | tee -a "$sum"

# --- 3. speed ---
bench() { # name args...
  name=$1; shift
  step "$name" "$@"
  grep '^{' "$out/$name.log" | tail -1 | sed "s/^/$name: /" | tee -a "$sum"
}
for cfg in "16 2" "32 6"; do
  set -- $cfg
  bench "cellar_F$1_N$2" "$b/cellar" bench --backend cuda --N "$2" --F "$1" --batch 128 --input 32x32x3 --steps 50 --warmup 10
  if [ -n "$torch" ]; then
    bench "torch_graph_F$1_N$2" python3 "$torch" --F "$1" --N "$2" --batch 128 --input 32x32x3 --steps 50 --mode graph
    bench "torch_eager_F$1_N$2" python3 "$torch" --F "$1" --N "$2" --batch 128 --input 32x32x3 --steps 50 --mode eager
  fi
done
bench cellar_F16_N2_b32 "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 32 --input 32x32x3 --steps 50 --warmup 10
export CELLAR_CUDA_GRAPH=0
bench cellar_F16_N2_nograph "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 128 --input 32x32x3 --steps 50 --warmup 10
unset CELLAR_CUDA_GRAPH
# where a step's time goes, op class by op class (each op timed alone,
# waiting after each), with the own depthwise kernels and with cuDNN's
# (dw = depthwise, pw = pointwise convolutions; own kernels or cuDNN's)
for impl in "own cudnn" "cudnn cudnn" "own own"; do
  set -- $impl
  tag=dw_$1_pw_$2   # (not "name": bench and step set that)
  bench "cellar_F16_N2_profile_$tag" env CELLAR_DEPTHWISE=$1 CELLAR_POINTWISE=$2 \
    "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 128 --input 32x32x3 --steps 20 --warmup 5 --profile
  grep -A16 '^op (@ input size)' "$out/cellar_F16_N2_profile_$tag.log" | sed "s/^/profile $tag: /" | tee -a "$sum"
done
for impl in "cudnn cudnn" "own own"; do
  set -- $impl
  bench "cellar_F16_N2_dw_$1_pw_$2" env CELLAR_DEPTHWISE=$1 CELLAR_POINTWISE=$2 \
    "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 128 --input 32x32x3 --steps 50 --warmup 10
done
export CELLAR_STRICT_FP32=1
bench cellar_F16_N2_fp32 "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 128 --input 32x32x3 --steps 50 --warmup 10
unset CELLAR_STRICT_FP32

# --- 3b. search throughput: the shipped CIFAR-10 search, one epoch per
# child, one child at a time and as many as fit ---
search() { # name parallel budget
  name=$1
  t0=$(date +%s.%N)
  step "$name" env CELLAR_CIFAR_DIR="$cifar" "$b/cellar" run cifar10 --db "$out/$name.db" --force \
    --parallel "$2" --set budget="$3" --set child.epochs=1
  t1=$(date +%s.%N)
  python3 - "$out/$name.db" "$t0" "$t1" "$name" <<'PY' | tee -a "$sum"
import sqlite3, sys
db, t0, t1, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
n = sqlite3.connect(db).execute("select count(*) from trials where state='done'").fetchone()[0]
wall = t1 - t0
print("%s: %d one-epoch children in %.1f s: %.0f training images/s in all, "
      "about %.1f proxy trials (20 epochs each) per hour" % (name, n, wall, n * 45000 / wall,
                                                   3600 * n / wall / 20))
PY
}
if [ -n "$cifar" ]; then
  search search_1 1 3
  search search_auto 0 16
fi

# --- 4. the CIFAR-10 recipe ---
if [ -n "$cifar" ]; then
  limit=${GPU_TRAIN_LIMIT:-300}
  bench cellar_train_cifar10 "$b/cellar" train --backend cuda --dataset "cifar10:$cifar" \
    --genotype nasnet-a --N 2 --F 16 --epochs "$epochs" --batch 128 --lr 0.05
fi
# --- 5. memory errors in a few steps (last: the slowest to learn from) ---
if command -v compute-sanitizer >/dev/null; then
  limit=${GPU_SANITIZER_LIMIT:-120}
  step sanitizer compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
    "$b/cellar" bench --backend cuda --N 1 --F 8 --batch 16 --steps 2 --warmup 1
  tail -3 "$out/sanitizer.log" | tee -a "$sum"
fi

note "done"
