#!/bin/sh
# run.sh - run every test program (tests/test_*) and test script
# (tests/*.test.sh), keep each one's output in tests/logs/NAME.log, show the
# failing ones, and end with the line CI reads: "N passed, N failed".
#
# Counts are of individual checks (lines "ok - " and "not ok - "); a test
# that crashes or exits non-zero without printing a failed check counts as
# one failure itself, so a crash is never silent.  Exit status 77 = skipped.
#   TESTS="test_genotype test_data" tests/run.sh    runs only those
# A test that runs longer than TEST_TIMEOUT seconds (default 900) is
# stopped and fails, so a hang cannot stall the suite.
#   TEST_SKIP="test_cuda_emu" TEST_SKIP_WHY="..." tests/run.sh
# leaves those out, each shown as skipped with the reason.
#
# With TEST_JOBS=k (k > 1; ci.sh sets it to the machine's cores) the tests
# that keep at most one core busy (TEST_POOL, longest first: the CUDA
# stand-ins are single-threaded, the screen test mostly waits, the search
# and command-line scripts run one small command after another) run last,
# k + 1 at a time beside each other (TEST_POOL_JOBS; the one more is for
# the screen test's waits: on two cores three at a time end the pool in
# 168 s where two took 200), with OpenMP threads that sleep rather than
# spin at barriers (OMP_WAIT_POLICY=passive); every other test runs alone
# before them, as with TEST_JOBS=1.  Results then show in the order the
# tests end.
srcdir=${srcdir:-.}
builddir=${builddir:-.}
logs=$builddir/tests/logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
if [ -z "$TESTS" ]; then
  for t in "$builddir"/tests/test_*; do
    case "$t" in *.c|*.o|*.h|*.log|*.trs) continue ;; esac
    [ -x "$t" ] && TESTS="$TESTS $(basename "$t")"
  done
  for t in "$srcdir"/tests/*.test.sh; do
    [ -f "$t" ] && TESTS="$TESTS $(basename "$t")"
  done
fi
for name in ${TEST_SKIP:-}; do
  case " $TESTS " in
    *" $name "*)
      TESTS=$(echo " $TESTS " | sed "s/ $name / /")
      skipped=$((skipped + 1))
      echo "SKIP $name: ${TEST_SKIP_WHY:-left out (TEST_SKIP)}" ;;
  esac
done
export CELLAR="$builddir/cellar" CELLAR_SRCDIR="$srcdir" CELLAR_BUILDDIR="$builddir"
jobs=${TEST_JOBS:-1}
pool=${TEST_POOL-"test_cuda_emu test_cuda_emu_race tui.test.sh search.test.sh race_emu.test.sh hooks.test.sh train.test.sh gpu_emu.test.sh cli.test.sh test_kernels test_kernels_race"}
pool_jobs=${TEST_POOL_JOBS:-$((jobs + 1))}

run_one() { # name: run the test, its output into its log, then "status seconds" into log.rc
  case "$1" in
    *.sh) cmd="sh $srcdir/tests/$1" ;;
    *)    cmd="$builddir/tests/$1" ;;
  esac
  log=$logs/$1.log
  start=$(date +%s)
  if command -v timeout >/dev/null 2>&1; then
    timeout "${TEST_TIMEOUT:-900}" $cmd >"$log" 2>&1
  else
    $cmd >"$log" 2>&1
  fi
  rc=$?
  [ $rc -eq 124 ] && echo "not ok - $1 ran longer than ${TEST_TIMEOUT:-900} s and was stopped" >>"$log"
  echo "$rc $(( $(date +%s) - start ))" >"$log.rc.tmp" && mv "$log.rc.tmp" "$log.rc"
}

report() { # name: count the checks of a finished test and show its result
  log=$logs/$1.log
  read -r rc secs <"$log.rc"
  rm -f "$log.rc"
  p=$(grep -c '^ok - ' "$log")
  f=$(grep -c '^not ok - ' "$log")
  if [ "$rc" -eq 77 ]; then
    skipped=$((skipped + 1))
    echo "SKIP $1: $(grep -m1 '^skip - ' "$log" | sed 's/^skip - //')"
    return
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "not ok - $1 exited with status $rc" >>"$log"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -eq 0 ]; then
    echo "PASS $1 ($p checks, ${secs}s)"
  else
    echo "FAIL $1 ($f of $((p + f)) checks failed, ${secs}s; log: $log)"
    grep -E '^not ok - ' "$log" | head -20 | sed 's/^/    /'
    tail -5 "$log" | sed 's/^/    | /'
  fi
}

# the tests that run beside each other: those of the pool that were asked for
pooled=""
if [ "$jobs" -gt 1 ]; then
  for name in $pool; do
    case " $TESTS " in *" $name "*) pooled="$pooled $name" ;; esac
  done
fi

for name in $TESTS; do
  case " $pooled " in *" $name "*) continue ;; esac
  run_one "$name"
  report "$name"
done

running=""
reap() { # report the pooled tests that have ended
  still=""
  for r in $running; do
    if [ -f "$logs/$r.log.rc" ]; then report "$r"; else still="$still $r"; fi
  done
  running=$still
}
for name in $pooled; do
  while [ "$(echo $running | wc -w)" -ge "$pool_jobs" ]; do
    sleep 1
    reap
  done
  rm -f "$logs/$name.log.rc"
  ( OMP_WAIT_POLICY=passive; export OMP_WAIT_POLICY; run_one "$name" ) &
  running="$running $name"
done
while [ -n "$running" ]; do
  sleep 1
  reap
done
wait

[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
