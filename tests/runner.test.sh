#!/bin/sh
# runner.test.sh - tests/run.sh itself, whose last line is what CI reads:
# over a build directory of small test programs (one passes, one fails a
# check, one crashes without printing a failure, one skips, one is not
# there), alone and with TEST_JOBS=2 and those tests in the pool, it must
# count every check, count a crash and a missing test as failures, show
# the skip with its reason, exit non-zero, and end with "N passed, N failed".
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/tests" "$tmp/src/tests" || exit 1
cp "$lib_src/tests/run.sh" "$tmp/src/tests/" || exit 1

prog() { # name body: a test program (a shell script) in the build directory
  printf '#!/bin/sh\n%s\n' "$2" >"$tmp/b/tests/$1" && chmod +x "$tmp/b/tests/$1"
}
prog test_pass 'echo "ok - one"; echo "ok - two"; sleep 1; echo "ok - three"'
prog test_fail 'echo "ok - fine"; echo "not ok - broken"; exit 1'
prog test_crash 'echo "ok - before"; kill -SEGV $$'
prog test_skip 'echo "skip - no such device"; exit 77'

run() { # jobs pool tests...: run.sh over them, its output in out.JOBS
  j=$1 pool=$2; shift 2
  (cd "$tmp/b" && TEST_JOBS=$j TEST_POOL=$pool TESTS="$*" srcdir="$tmp/src" builddir=. \
    sh "$tmp/src/tests/run.sh") >"$tmp/out.$j" 2>&1
  echo $? >"$tmp/rc.$j"
}
for j in 1 2; do
  run $j "test_pass test_crash test_fail test_nothere" test_pass test_fail test_crash test_skip test_nothere
  o=$tmp/out.$j
  check "TEST_JOBS=$j: the last line counts every check, a crash and a missing test as failures" \
    [ "$(tail -n 1 "$o")" = "5 passed, 3 failed" ]
  check "TEST_JOBS=$j: run.sh exits non-zero" [ "$(cat "$tmp/rc.$j")" -ne 0 ]
  check "TEST_JOBS=$j: each test's result shows once" sh -c \
    "[ \$(grep -c '^PASS test_pass (3 checks' '$o') -eq 1 ] && [ \$(grep -c '^FAIL test_fail (1 of 2' '$o') -eq 1 ] &&
     [ \$(grep -c '^FAIL test_crash' '$o') -eq 1 ] && [ \$(grep -c '^FAIL test_nothere' '$o') -eq 1 ]"
  check "TEST_JOBS=$j: the crash is named with its status" grep -q "not ok - test_crash exited with status" "$o"
  check "TEST_JOBS=$j: the skip shows its reason" grep -q "^SKIP test_skip: no such device" "$o"
done
run 2 "test_pass" test_pass test_skip
check "all passing (one pooled): exit 0 and '3 passed, 0 failed'" \
  sh -c "[ $(cat "$tmp/rc.2") -eq 0 ] && [ \"\$(tail -n 1 '$tmp/out.2')\" = '3 passed, 0 failed' ]"
