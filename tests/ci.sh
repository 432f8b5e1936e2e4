#!/bin/sh
# ci.sh - everything CI checks, from a clean checkout:
#   1. the release build and the whole suite (tests/run.sh);
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. valgrind (memcheck) over the data and genotype tests and short runs of
#      every command, on a build without -march=native (valgrind cannot run
#      AVX-512 code) and without CUDA (valgrind cannot run GPU code, and the
#      CUDA libraries' start-up code, run by every command of a CUDA build,
#      trips valgrind in the dynamic loader and takes it seconds per run).
# On a machine with several cores the single-core tests of each suite run
# side by side (tests/run.sh, TEST_JOBS), and the valgrind runs in two groups.
# CIFAR-10 tests use ../shared/data when it is there (converted once into
# tests/data/cifar10).  Each stage's seconds show as "-- STAGE: N s" (CI
# must end within 20 minutes on two cores: these say where they go).  The
# last line is the total: "N passed, N failed".
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
passed=0 failed=0
t0=$(date +%s)
took() { # what: the seconds since the last call (or the start), for the log
  t1=$(date +%s)
  echo "-- $1: $((t1 - t0)) s"
  t0=$t1
}

count() { # add the "N passed, N failed" last line of a log to the totals
  line=$(tail -n 1 "$1")
  p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
  f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
  if [ -z "$p" ]; then p=0; f=1; echo "not ok - $1 did not end with a summary line"; fi
  passed=$((passed + p)); failed=$((failed + f))
}

build() { # dir configure-args...: cellar and the test programs, or only
  # those of $programs (and of $optional, those this configuration builds);
  # the programs first, so that the C sources compile beside nvcc's kernels
  # (the library's last objects), then what else `all` makes.  (One make
  # of both targets would build libcellar.a twice at once.)
  dir=$1; shift
  mkdir -p "$dir"
  ( cd "$dir" && "$src/configure" -q "$@" >configure.out 2>&1 &&
    for p in ${optional:-}; do
      if grep -q "^am__append_[0-9]* = $p\$" Makefile; then programs="$programs $p"; fi
    done &&
    make -j"$jobs" ${programs:-check-programs} >make.out 2>&1 && make -j"$jobs" all >>make.out 2>&1 ) &&
    return 0
  echo "not ok - build in $dir failed:"; tail -30 "$dir/make.out" "$dir/configure.out" 2>/dev/null
  failed=$((failed + 1))
  return 1
}

cd "$src" || exit 1
export CELLAR_SRCDIR="$src"
[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || { echo "not ok - autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }

# CIFAR-10 from ../shared/data, converted once
if [ -z "${CELLAR_CIFAR_DIR:-}" ] && [ -f ../shared/data/cifar10-to-bin.py ]; then
  if [ ! -f tests/data/cifar10/test_batch.bin ]; then
    mkdir -p tests/data/cifar10
    py=/usr/bin/python3; [ -x "$py" ] || py=python3
    "$py" ../shared/data/cifar10-to-bin.py ../shared/data/cifar10-jpeg.tar.gz tests/data/cifar10 >tests/data/cifar10.log 2>&1 ||
      { echo "CIFAR-10 conversion failed:"; tail -5 tests/data/cifar10.log; rm -f tests/data/cifar10/test_batch.bin; }
  fi
  [ -f tests/data/cifar10/test_batch.bin ] && CELLAR_CIFAR_DIR=$src/tests/data/cifar10 && export CELLAR_CIFAR_DIR
fi

took "set-up"
echo "== release build and test suite"
# the kernels as the H100's machine code only: the default's second copy,
# PTX for compute capability 8.0, is what the sanitizer build below
# compiles (between them, all that the default asks of nvcc; no GPU runs
# either here)
if build build-ci NVCCFLAGS="-O3 -std=c++17 -lineinfo -gencode arch=compute_90,code=sm_90"; then
  took "release build"
  ( cd build-ci && TEST_JOBS=$jobs srcdir="$src" builddir=. sh "$src/tests/run.sh" ) | tee build-ci/suite.log
  count build-ci/suite.log
  took "release suite"
fi

echo "== AddressSanitizer and UndefinedBehaviorSanitizer"
# the kernels of kernels/*.cu as PTX only: nvcc's machine code for the H100
# doubles their compile (the release build above made it), and no GPU
# runs this build's
if build build-asan --enable-asan NVCCFLAGS="-O3 -std=c++17 -lineinfo -gencode arch=compute_80,code=compute_80"; then
  took "sanitizer build"
  # protect_shadow_gap=0: the CUDA driver maps memory where ASan's shadow gap is
  # CELLAR_TEST_SHORT: the long Fashion-MNIST recipe on a tenth of the data,
  # no CIFAR-10 training.  Left out (CI must end within 20 minutes): test_cuda_emu,
  # whose kernels on the CPU stand-ins take three minutes under the
  # sanitizers (27 s in the release build; each load and store of theirs is
  # watched by the race build, and the CUDA backend's host code runs here
  # under gpu_emu.test.sh); hooks.test.sh, searches steered by Lua hooks and
  # recipes, whose C paths search.test.sh and train.test.sh run here and
  # whose hooks test_lua calls, and which valgrind runs below.
  ( cd build-asan && TEST_JOBS=$jobs CELLAR_TEST_SHORT=1 ASAN_OPTIONS=detect_leaks=1:protect_shadow_gap=0 \
      TEST_SKIP="test_cuda_emu hooks.test.sh" TEST_SKIP_WHY="run in the release build (minutes here)" \
      srcdir="$src" builddir=. sh "$src/tests/run.sh" ) | tee build-asan/suite.log
  count build-asan/suite.log
  took "sanitizer suite"
fi

echo "== valgrind"
# only the programs valgrind runs below
programs="tests/test_core tests/test_genotype tests/test_data tests/test_store tests/test_layout
  tests/test_controller tests/test_lua"
optional="tests/test_chart tests/test_render"
if build build-vg --disable-native --without-cuda; then
  took "valgrind build"
  log=build-vg/valgrind.log
  : >"$log"
  # two groups of runs side by side (valgrind keeps a program on one core),
  # each with its own output; their results join the log when both end
  vg() { # group description command...
    g=$1 d=$2; shift 2
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --show-possibly-lost=no --suppressions="$src/tests/valgrind-graphviz.supp" \
        "$@" >build-vg/vg-$g.out 2>&1; then
      echo "ok - valgrind: $d" >>build-vg/vg-$g.log
    else
      { echo "not ok - valgrind: $d"; tail -30 build-vg/vg-$g.out | sed 's/^/    | /'; } >>build-vg/vg-$g.log
    fi
  }
  vg_commands() { # the first group: a search and the commands on its journal
    # (about 80 s here, as long as the second)
    # all but the statistical tests (sampling, learning): their long loops
    # repeat what the others run once
    vg 1 "controller tests" build-vg/tests/test_controller gradient baseline ppo entropy_weight live_lr \
      save_load errors
    printf '%s\n' \
      'cellar.experiment { name = "vg", train_images = 32, val_images = 16, budget = 3, seed = 2,' \
      '  space = cellar.space { ops = { "identity", "sep_conv_3x3", "max_pool_3x3" }, B = 2 },' \
      '  child = { N = 1, F = 4, epochs = 2, batch = 16 }, strategy = cellar.ppo { batch = 2, hidden = 8 } }' \
      'cellar.on("trial_end", function(t) assert(t.reward and #cellar.trials{ ranked = true } == cellar.status().ranked) end)' \
      'cellar.on("epoch", function(e) assert(#cellar.epochs{ trial = e.trial, epoch = e.epoch } == 1) end)' \
      'cellar.on("epoch", function(e) if e.trial == 2 then cellar.stop_trial(2, "vg") end end)' \
      'cellar.on("controller_update", function() assert(#cellar.policy().decisions == 20) end)' \
      >build-vg/vg-search.lua
    vg 1 "cellar run (a PPO search of 3 trials with hooks: one trial stopped early, the policy, epochs and ranked trials read)" \
      build-vg/cellar run build-vg/vg-search.lua --db build-vg/vg.db --force --quiet
    vg 1 "cellar resume (one more trial)" build-vg/cellar resume build-vg/vg.db --quiet --set budget=4
    vg 1 "cellar train DB (recorded in the journal)" build-vg/cellar train build-vg/vg.db --N 1 --F 4 \
      --epochs 1 --train-limit 32 --test-limit 16 --batch 16
    vg 1 "cellar show DB --trial best" build-vg/cellar show build-vg/vg.db --trial best
    vg 1 "cellar show DB --json (with the training)" build-vg/cellar show build-vg/vg.db --json
    vg 1 "cellar show DB --policy --json" build-vg/cellar show build-vg/vg.db --policy --json
    vg 1 "cellar export DB --epochs" build-vg/cellar export build-vg/vg.db --epochs
    vg 1 "cellar export DB --trainings" build-vg/cellar export build-vg/vg.db --trainings
  }
  vg_programs() { # the second group: test programs and one-shot commands
    vg 2 "cellar bench (every op forward and backward)" build-vg/cellar bench --N 1 --F 4 --batch 4 --steps 1 --warmup 0 \
      --genotype "normal: identity(0) conv_1x3_3x1(1) add | conv_1x7_7x1(0) dil_conv_3x3(2) concat | avg_pool_3x3(1) max_pool_5x5(3) add | max_pool_7x7(0) conv_3x3(1) add | sep_conv_7x7(4) conv_1x1(5) concat ; reduce: identity(0) sep_conv_3x3(1) concat | sep_conv_5x5(0) max_pool_3x3(1) add | avg_pool_3x3(1) identity(3) add | conv_1x1(2) conv_3x3(0) add | sep_conv_7x7(1) dil_conv_3x3(5) add"
    vg 2 "Lua tests" build-vg/tests/test_lua
    vg 2 "core helper tests" build-vg/tests/test_core
    vg 2 "genotype tests" build-vg/tests/test_genotype
    vg 2 "dataset tests" build-vg/tests/test_data
    vg 2 "cellar show" build-vg/cellar show --genotype enas
    vg 2 "cellar train (a short run with validation and test)" build-vg/cellar train --N 1 --F 4 --epochs 1 \
      --train-limit 32 --val 16 --test-limit 16 --batch 16 --drop-path 0.2
    vg 2 "journal tests" build-vg/tests/test_store
    vg 2 "screen layout tests" build-vg/tests/test_layout
    [ ! -x build-vg/tests/test_chart ] || vg 2 "screen chart tests" build-vg/tests/test_chart
    if [ -x build-vg/tests/test_render ]; then
      vg 2 "render tests (Graphviz layouts, drawings, files)" build-vg/tests/test_render
      vg 2 "cellar render (SVG)" build-vg/cellar render --genotype nasnet-a -o build-vg/cell.svg
      vg 2 "cellar render (PNG)" build-vg/cellar render --genotype nasnet-a -o build-vg/cell.png
    fi
  }
  if command -v valgrind >/dev/null; then
    rm -f build-vg/vg-1.log build-vg/vg-2.log
    touch build-vg/vg-1.log build-vg/vg-2.log
    vg_commands &
    vg_programs
    wait
    cat build-vg/vg-2.log build-vg/vg-1.log | tee -a "$log"
    echo "$(grep -c '^ok' "$log") passed, $(grep -c '^not ok' "$log") failed" >>"$log"
  else
    echo "not ok - valgrind is not installed" | tee -a "$log"
    echo "0 passed, 1 failed" >>"$log"
  fi
  count "$log"
  took "valgrind runs"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
