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
export CELLAR="$builddir/cellar" CELLAR_SRCDIR="$srcdir" CELLAR_BUILDDIR="$builddir"
for name in $TESTS; do
  case "$name" in
    *.sh) cmd="sh $srcdir/tests/$name" ;;
    *)    cmd="$builddir/tests/$name" ;;
  esac
  log=$logs/$name.log
  start=$(date +%s)
  if command -v timeout >/dev/null 2>&1; then
    timeout "${TEST_TIMEOUT:-900}" $cmd >"$log" 2>&1
  else
    $cmd >"$log" 2>&1
  fi
  rc=$?
  [ $rc -eq 124 ] && echo "not ok - $name ran longer than ${TEST_TIMEOUT:-900} s and was stopped" >>"$log"
  secs=$(( $(date +%s) - start ))
  p=$(grep -c '^ok - ' "$log")
  f=$(grep -c '^not ok - ' "$log")
  if [ $rc -eq 77 ]; then
    skipped=$((skipped + 1))
    echo "SKIP $name: $(grep -m1 '^skip - ' "$log" | sed 's/^skip - //')"
    continue
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "not ok - $name exited with status $rc" >>"$log"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -eq 0 ]; then
    echo "PASS $name ($p checks, ${secs}s)"
  else
    echo "FAIL $name ($f of $((p + f)) checks failed, ${secs}s; log: $log)"
    grep -E '^not ok - ' "$log" | head -20 | sed 's/^/    /'
    tail -5 "$log" | sed 's/^/    | /'
  fi
done
[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
