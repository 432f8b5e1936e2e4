#!/bin/sh
# gpu.sh - build cellar on a machine with an NVIDIA GPU and check and time
# its CUDA engine in one go, leaving every log and a summary in OUTDIR:
#
#   sh tests/gpu.sh OUTDIR [--fmnist DIR] [--cifar DIR | --cifar-from TAR]
#                          [--torch FILE] [--epochs E] [--pack FILE.tar.gz]
#
# A lent GPU machine gives a session about 15 minutes in all, its start
# included, and one command at most 10, so the whole run keeps to a
# deadline (GPU_DEADLINE seconds from the start, default 540): each step's
# time limit is cut to what is left, a step with under 20 s left is skipped
# (the summary says so), and the steps come in order of what matters most:
#
#   1. configure and build in build-gpu (CUDA on; no screen, no Graphviz,
#      no MPI: only the engine is checked here); with --cifar-from (the JPEG
#      archive, cifar10-to-bin.py beside it) CIFAR-10's binary version is
#      made meanwhile, in the background, into build-gpu/cifar10;
#   2. tests/test_cuda: every op of the CUDA backend against the CPU
#      backend, a whole network, a short training that must learn
#      (--fmnist DIR: where Fashion-MNIST's idx files are, when they are not
#      in /usr/share/datasets/fashion-mnist);
#   3. the issue's speed figures side by side: cellar bench --backend cuda
#      for the search proxy (NASNet-A F=16 N=2) and 6@768 (F=32 N=6) at
#      batch 128 and, with --torch FILE (a copy of torch_nasnet.py),
#      PyTorch's CUDA-graph figure right after each; 8 children at once
#      (bench --children 8) against 8 eager PyTorch processes side by side;
#   4. with CIFAR-10: the 10-epoch recipe (F=16 N=2, batch 128, lr 0.05
#      cosine) trained on the GPU, then search throughput (the shipped
#      cifar10 search with one-epoch children, as many at once as fit:
#      images per second in all, proxy trials per hour);
#   5. what may make the defaults faster, those that would change a
#      default first (the deadline cuts from the end): the cells'
#      branches on 2, 4 and 8 lanes (CELLAR_CUDA_LANES; F=32 N=6 on 4);
#      then the newest fusions against the way before each: the
#      factors of the batch norm after a separable op made in a launch of
#      their own rather than by the last block summing each channel
#      (CELLAR_BN_FACTORS=apart); the data
#      gradients of the batch norm between a separable op's layers and of
#      the next one written and read back rather than made as the layer
#      before reads (CELLAR_BN_DX=apart; =inner only the first made so);
#      the batch norm between the layers written and read back rather
#      than applied as the second reads (CELLAR_BN_APPLY=apart); identity
#      ops copying rather than folded into batch norms
#      (CELLAR_IDENTITY=copy); in the backward the batch norms' sums of
#      dy taken apart (CELLAR_BN_STATS=forward), and their statistics too
#      (CELLAR_BN_STATS=apart); fused but for the stride-2 layers'
#      backward (CELLAR_SEPARABLE=stride-1) and but for the pointwise
#      filter gradient (CELLAR_SEPARABLE=keep-mid); split filter
#      gradients' sums added one by one (CELLAR_FILTER_SUMS=each); each
#      shape's convolutions the fastest way, timed (CELLAR_DEPTHWISE=auto
#      CELLAR_POINTWISE=auto); separable layers' halves apart
#      (CELLAR_SEPARABLE=split), fused forward only
#      (CELLAR_SEPARABLE=forward); every pointwise convolution through
#      cuDNN (CELLAR_POINTWISE=cudnn); depthwise convolutions without
#      shared-memory tiles (CELLAR_DEPTHWISE=simple); 4 and 16 children,
#      8 children on 2 lanes each, 8 lanes with batch norm in one kernel
#      and with own pointwise kernels; then the proxy's runs ranked
#      (lines "rank:", again at the end), so the fastest settings show at
#      a glance;
#   6. where a step's time goes: the proxy op class by op class
#      (--profile) and whole with cellar's own depthwise and pointwise
#      kernels or cuDNN's (CELLAR_DEPTHWISE, CELLAR_POINTWISE), with
#      cuDNN's algorithms timed (CELLAR_CUDNN_FIND), without graphs, in
#      strict FP32, at batch 32, and PyTorch eager; the search again with
#      cudaMalloc/cudaFree (CELLAR_CUDA_POOL=0);
#   7. tests/gpu_calib.cu: what one kernel costs at least in a CUDA graph,
#      and copy bandwidth by size (GPU-NOTES.md's calibration runs);
#   8. compute-sanitizer over a few training steps (memcheck), and over
#      one small step the shared-memory hazards (racecheck), when it is
#      there.
#
# OUTDIR/summary.txt collects the lines that matter (device, pass/fail
# counts, JSON lines of the benchmarks), written (and printed) as they
# come, so a run cut short still leaves them; with --pack, OUTDIR is
# packed into FILE.tar.gz again after every step (for a place that takes
# back few files).
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

out=${1:?usage: gpu.sh OUTDIR [--fmnist DIR] [--cifar DIR | --cifar-from TAR] [--torch FILE] [--epochs E] [--pack FILE.tar.gz]}
shift
fmnist= cifar= cifar_tar= torch= epochs=10 pack=
while [ $# -gt 0 ]; do
  case "$1" in
    --fmnist) fmnist=$2; shift 2 ;;
    --cifar) cifar=$2; shift 2 ;;
    --cifar-from) cifar_tar=$2; shift 2 ;;
    --torch) torch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --pack) pack=$2; shift 2 ;;
    *) echo "gpu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
sum=$out/summary.txt
: >"$sum"
start=$(date +%s)
deadline=${GPU_DEADLINE:-540}
[ -n "$pack" ] && pack=$(cd "$(dirname "$pack")" && pwd)/$(basename "$pack")
note() { echo "$*" | tee -a "$sum"; }
packup() { # OUTDIR into the --pack file, replaced whole
  [ -z "$pack" ] || { tar -czf "$pack.part" -C "$out" . && mv "$pack.part" "$pack"; }
}
left() { echo $(( deadline - ($(date +%s) - start) )); }
step() { # name limit command...: run within the limit and the deadline, log to OUTDIR/name.log
  name=$1 lim=$2; shift 2
  l=$(left)
  if [ "$l" -lt 20 ]; then
    note "== $name: skipped, $l s left before the deadline"
    return 125
  fi
  [ "$lim" -gt "$l" ] && lim=$l
  t0=$(date +%s)
  timeout -k 5 "$lim" "$@" >"$out/$name.log" 2>&1
  rc=$?
  note "== $name: exit $rc in $(( $(date +%s) - t0 )) s$([ $rc -eq 124 ] && echo " (stopped at its limit, $lim s)")"
  packup
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

note "cellar $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?') on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC'), deadline $deadline s"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | sed 's/^/device: /' | tee -a "$sum"
nproc | sed 's/^/cpu cores: /' | tee -a "$sum"
b=$src/build-gpu
mkdir -p "$b"

# CIFAR-10's binary version, made from the JPEG archive while cellar builds
cpid=
if [ -n "$cifar_tar" ] && [ -z "$cifar" ]; then
  cifar=$b/cifar10
  python3 "$(dirname "$cifar_tar")/cifar10-to-bin.py" "$cifar_tar" "$cifar" >"$out/cifar_convert.log" 2>&1 &
  cpid=$!
fi
cifar_ready() { # wait for the conversion, once; false when there is no CIFAR-10
  if [ -n "$cpid" ]; then
    wait "$cpid"; crc=$?
    cpid=
    note "cifar10 made from $cifar_tar: exit $crc"
    [ $crc -eq 0 ] || { tail -3 "$out/cifar_convert.log" | tee -a "$sum"; cifar=; }
  fi
  [ -n "$cifar" ]
}

# --- 1. build ---
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi) >"$out/autoreconf.log" 2>&1
if ! step configure 120 sh -c "cd '$b' && '$src/configure' --without-ncurses --without-graphviz --without-mpi"; then
  tail -20 "$out/configure.log" 2>/dev/null | tee -a "$sum"; packup; exit 1
fi
grep -A12 'configured:' "$out/configure.log" >>"$sum"
if ! step build 300 sh -c "cd '$b' && make -j$(nproc) all && make -j$(nproc) check-programs"; then
  grep -E 'error|Error' "$out/build.log" | head -20 | tee -a "$sum"; packup; exit 1
fi
"$b/cellar" --version | tee -a "$sum"

# --- 2. parity and learning ---
if [ -n "$fmnist" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && ln -s "$(cd "$fmnist" && pwd)" /usr/share/datasets/fashion-mnist
fi
step test_cuda 150 "$b/tests/test_cuda"; trc=$?
if [ $trc -ne 0 ] && [ $trc -ne 77 ]; then
  # again, waiting after every op, so an error names the op that made it
  step test_cuda_sync 100 env CELLAR_CUDA_SYNC=1 "$b/tests/test_cuda"
  grep -E '^not ok - ' "$out/test_cuda_sync.log" | head -20 | sed 's/^/sync: /' | tee -a "$sum"
fi
grep -c '^ok - ' "$out/test_cuda.log" | sed 's/^/test_cuda ok: /' | tee -a "$sum"
grep -E '^(not ok|skip) - ' "$out/test_cuda.log" | head -40 | tee -a "$sum"

# --- 3. the issue's speed figures, side by side ---
bench() { # name limit args...: a step whose last JSON line goes to the summary
  name=$1; shift
  step "$name" "$@"
  grep '^{' "$out/$name.log" | tail -1 | sed "s/^/$name: /" | tee -a "$sum"
}
proxy="--N 2 --F 16 --batch 128 --input 32x32x3"
for cfg in "16 2" "32 6"; do
  set -- $cfg
  bench "cellar_F$1_N$2" 60 "$b/cellar" bench --backend cuda --N "$2" --F "$1" --batch 128 --input 32x32x3 --steps 50 --warmup 10
  [ -n "$torch" ] &&
    bench "torch_graph_F$1_N$2" 90 python3 "$torch" --F "$1" --N "$2" --batch 128 --input 32x32x3 --steps 50 --mode graph
done
bench cellar_F16_N2_children8 90 "$b/cellar" bench --backend cuda $proxy --steps 30 --warmup 5 --children 8
if [ -n "$torch" ]; then
  # PyTorch's best by running processes side by side: 8 eager ones
  step torch_eager_x8 120 sh -c '
    for i in 1 2 3 4 5 6 7 8; do
      python3 "$1" --F 16 --N 2 --batch 128 --input 32x32x3 --steps 100 --mode eager >"$2/torch_eager_x8_$i.out" 2>&1 &
    done
    wait
    cat "$2"/torch_eager_x8_*.out' sh "$torch" "$out"
  python3 - "$out" <<'PY' | tee -a "$sum"
import json, glob, sys
v = []
for f in sorted(glob.glob(sys.argv[1] + "/torch_eager_x8_*.out")):
    for line in open(f):
        if line.startswith("{"):
            v.append(json.loads(line)["img_s"])
print("torch_eager_x8: %d processes finished, %.0f img/s in all (%s)" %
      (len(v), sum(v), " ".join("%.0f" % x for x in v)))
PY
  rm -f "$out"/torch_eager_x8_*.out
fi

# --- 4. the CIFAR-10 recipe and search throughput ---
search() { # name [VAR=value...]: the shipped cifar10 search, one-epoch children, as many at once as fit
  sname=$1; shift
  t0=$(date +%s.%N)
  step "$sname" 120 env CELLAR_CIFAR_DIR="$cifar" "$@" "$b/cellar" run cifar10 --backend cuda --db "$out/$sname.db" \
    --force --parallel 0 --set budget=16 --set child.epochs=1
  t1=$(date +%s.%N)
  python3 - "$out/$sname.db" "$t0" "$t1" "$sname" <<'PY' | tee -a "$sum"
import sqlite3, sys
db, t0, t1, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
try:
    n = sqlite3.connect(db).execute("select count(*) from trials where state='done'").fetchone()[0]
except sqlite3.Error as e:
    print("%s: no journal to read (%s)" % (name, e)); sys.exit(0)
wall = t1 - t0
print("%s: %d one-epoch children in %.1f s: %.0f training images/s in all, "
      "about %.1f proxy trials (20 epochs each) per hour" % (name, n, wall, n * 45000 / wall,
                                                   3600 * n / wall / 20))
PY
  grep -m1 'train at once' "$out/$sname.log" 2>/dev/null | sed "s/^/$sname: /" | tee -a "$sum"
}
if cifar_ready; then
  bench cellar_train_cifar10 300 "$b/cellar" train --backend cuda --dataset "cifar10:$cifar" \
    --genotype nasnet-a --N 2 --F 16 --epochs "$epochs" --batch 128 --lr 0.05
  search search_auto
fi

# --- 5. what may make the defaults faster ---
# (those whose outcome would change a default first: the lanes, then the
# newest fusions against the way before each, newest first; the deadline
# cuts from the end)
# a cell's branches side by side on lanes (streams of one network; the
# default is one)
for l in 2 4 8; do
  bench "cellar_F16_N2_lanes$l" 60 env CELLAR_CUDA_LANES=$l "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
done
bench cellar_F32_N6_lanes4 60 env CELLAR_CUDA_LANES=4 "$b/cellar" bench --backend cuda --N 6 --F 32 --batch 128 --input 32x32x3 --steps 50 --warmup 10

# the factors of the batch norm after a separable op's second layer in a
# launch of their own (the default until the block that sums a channel's
# last range made them: 40 launches of the proxy's step)
bench cellar_F16_N2_bn_factors_apart 60 env CELLAR_BN_FACTORS=apart "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# the data gradient of the batch norm between a separable op's layers
# written and read back (the default until the first layer's backward
# kernel made it as it read), and the one after the second layer's too
# (=inner: that one's alone, which still takes its sums in a pass of its
# own: whether the second layer reading its dy and input pays for the
# pass that writes dx)
bench cellar_F16_N2_bn_dx_apart 60 env CELLAR_BN_DX=apart "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_bn_dx_inner 60 env CELLAR_BN_DX=inner "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# the batch norm between a separable op's layers written and read back
# (the default until the second layer's kernels applied it as they read)
bench cellar_F16_N2_bn_apply_apart 60 env CELLAR_BN_APPLY=apart "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# identity ops copying their input, forward and backward (the default
# until they were folded into the batch norms writing it)
bench cellar_F16_N2_identity_copy 60 env CELLAR_IDENTITY=copy "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# the batch norms between separable halves adding up dy themselves in the
# backward (the default until the fused backward took those sums)
bench cellar_F16_N2_bn_forward 60 env CELLAR_BN_STATS=forward "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# every batch norm taking its own statistics (the default until the
# separable forward kernel took them)
bench cellar_F16_N2_bn_apart 60 env CELLAR_BN_STATS=apart "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# fused both ways but for the stride-2 layers' backward, four operations
# apart (the default until the fused backward took stride 2)
bench cellar_F16_N2_sep_stride1 60 env CELLAR_SEPARABLE=stride-1 "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# fused both ways but for the pointwise filter gradient, by cuDNN from the
# depthwise output the forward then writes (the default until the fused
# backward took that gradient)
bench cellar_F16_N2_sep_keep_mid 60 env CELLAR_SEPARABLE=keep-mid "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# each split filter gradient's sum added by a kernel of its own (the
# default until they were added up to 16 in one launch)
bench cellar_F16_N2_sums_each 60 env CELLAR_FILTER_SUMS=each "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# each shape's convolutions the fastest way (own, simple or cuDNN), timed when preparing
bench cellar_F16_N2_auto 60 env CELLAR_DEPTHWISE=auto CELLAR_POINTWISE=auto "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# each separable layer's depthwise and pointwise convolutions apart, the
# pointwise ones cuDNN's (the default until the fused forward), and with
# the forward alone fused (the default until the fused backward)
bench cellar_F16_N2_sep_split 60 env CELLAR_SEPARABLE=split "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_sep_forward 60 env CELLAR_SEPARABLE=forward "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# every pointwise convolution through cuDNN, those reading through ReLU or
# from a shifted origin staged (the default until this one was timed)
bench cellar_F16_N2_pw_cudnn 60 env CELLAR_POINTWISE=cudnn "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
# depthwise convolutions without shared-memory tiles (the default until this one was timed)
bench cellar_F16_N2_dw_simple 60 env CELLAR_DEPTHWISE=simple "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
for k in 4 16; do
  bench "cellar_F16_N2_children$k" 90 "$b/cellar" bench --backend cuda $proxy --steps 30 --warmup 5 --children $k
done
bench cellar_F16_N2_children8_lanes2 90 env CELLAR_CUDA_LANES=2 "$b/cellar" bench --backend cuda $proxy --steps 30 --warmup 5 --children 8
# lanes with batch norm in one kernel (shorter chain, fewer blocks), and with own pointwise kernels
bench cellar_F16_N2_lanes8_bn1 60 env CELLAR_CUDA_LANES=8 CELLAR_BN_SPLIT=0 "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_lanes8_pw_own 60 env CELLAR_CUDA_LANES=8 CELLAR_POINTWISE=own "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10

rank() { # the proxy's benches so far, fastest first, against the default and PyTorch's graph
  python3 - "$sum" <<'PY' | tee -a "$sum"
import json, sys
runs = {}
for line in open(sys.argv[1]):
    name, sep, rest = line.partition(": {")
    if sep and name.startswith(("cellar_F16_N2", "torch_graph_F16_N2")) and "_profile_" not in name \
            and not name.endswith("_b32"):
        try:
            runs[name] = json.loads("{" + rest)
        except ValueError:
            pass
torch = runs.get("torch_graph_F16_N2", {}).get("img_s")
rows = sorted(((r.get("children", 1), -r["img_s"], n, r.get("engine", "")) for n, r in runs.items()
               if "img_s" in r))
print("rank: F=16 N=2 batch 128 by children at once, fastest first: img/s in all, x the default "
      "with as many children, x PyTorch's graph (one process)")
for k, v, n, eng in rows:
    v = -v
    base = runs.get("cellar_F16_N2" + ("" if k == 1 else "_children%d" % k), {}).get("img_s")
    print("rank: %-34s %2d %9.0f %6s %6s  %s" % (n, k, v, "%.2f" % (v / base) if base else "-",
          "%.2f" % (v / torch) if torch and k == 1 else "-", eng))
PY
}
rank

# --- 6. where the time goes ---
# each op timed alone, waiting after each, with the own depthwise kernels
# and with cuDNN's (dw = depthwise, pw = pointwise convolutions); with auto
# the log ends with each convolution's ways and their times
for impl in "own mixed" "own cudnn" "cudnn cudnn" "own own" "auto auto"; do
  set -- $impl
  tag=dw_$1_pw_$2   # (not "name": bench and step set that)
  bench "cellar_F16_N2_profile_$tag" 60 env CELLAR_DEPTHWISE=$1 CELLAR_POINTWISE=$2 \
    "$b/cellar" bench --backend cuda $proxy --steps 20 --warmup 5 --profile
  grep -A17 "^# the first child's step" "$out/cellar_F16_N2_profile_$tag.log" | sed "s/^/profile $tag: /" | tee -a "$sum"
done
# the separable rows with the backward apart, to set beside the default's
bench cellar_F16_N2_profile_sep_forward 60 env CELLAR_SEPARABLE=forward \
  "$b/cellar" bench --backend cuda $proxy --steps 20 --warmup 5 --profile
grep -A17 "^# the first child's step" "$out/cellar_F16_N2_profile_sep_forward.log" | sed "s/^/profile sep_forward: /" | tee -a "$sum"
for impl in "cudnn cudnn" "own own"; do
  set -- $impl
  bench "cellar_F16_N2_dw_$1_pw_$2" 60 env CELLAR_DEPTHWISE=$1 CELLAR_POINTWISE=$2 \
    "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
done
bench cellar_F16_N2_find 60 env CELLAR_CUDNN_FIND=1 "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_nograph 60 env CELLAR_CUDA_GRAPH=0 "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_fp32 60 env CELLAR_STRICT_FP32=1 "$b/cellar" bench --backend cuda $proxy --steps 50 --warmup 10
bench cellar_F16_N2_b32 60 "$b/cellar" bench --backend cuda --N 2 --F 16 --batch 32 --input 32x32x3 --steps 50 --warmup 10
[ -n "$torch" ] &&
  bench torch_eager_F16_N2 90 python3 "$torch" $proxy --steps 50 --mode eager

# the search again with cudaMalloc/cudaFree, which wait for the whole GPU
[ -n "$cifar" ] && search search_nopool CELLAR_CUDA_POOL=0

# --- 7. calibration: a kernel's floor in a graph, copy bandwidth by size ---
if step gpu_calib 90 sh -c "nvcc -O3 -std=c++17 -o '$b/gpu_calib' '$src/tests/gpu_calib.cu' && '$b/gpu_calib'"; then
  grep '^{' "$out/gpu_calib.log" | sed 's/^/calib: /' | tee -a "$sum"
fi

# --- 8. memory errors in a few steps (last: the slowest to learn from) ---
if command -v compute-sanitizer >/dev/null; then
  step sanitizer 120 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
    "$b/cellar" bench --backend cuda --N 1 --F 8 --batch 16 --steps 2 --warmup 1
  tail -3 "$out/sanitizer.log" | tee -a "$sum"
  # shared-memory hazards in our tiled kernels on the real scheduler (the
  # stand-in runs a block's threads in two orders only), one small step
  # without the graph
  step racecheck 90 env CELLAR_CUDA_GRAPH=0 compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$b/cellar" bench --backend cuda --N 1 --F 8 --batch 4 --input 16x16x3 --steps 1 --warmup 0
  tail -3 "$out/racecheck.log" | tee -a "$sum"
fi
rank
[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
note "done in $(( $(date +%s) - start )) s"
packup
