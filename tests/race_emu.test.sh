#!/bin/sh
# race_emu.test.sh - the cellar command over the CPU stand-ins with every
# load and store of the kernels watched for races (tests/cellar-emu-race;
# kernels/README, "Races on device memory"): the search proxy at its real
# shape, its launches split as on an H100 (KEMU_SMS=132), on eight lanes;
# three children at once; lanes run op by op; and a search of three
# trials training at once (each trained, validated and scored: the paths
# of `cellar train` on a device).  A race is reported as "kemu: race on memory at ..." and
# fails the launch.  cellar-emu-race is built where configure finds CUDA
# and a compiler that takes -fsanitize=thread, outside the sanitizer
# builds; skips elsewhere.
B=${CELLAR_BUILDDIR:-.}
EMU=$(cd "$B" && pwd)/tests/cellar-emu-race
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$EMU" ]; then
  echo "skip - no tests/cellar-emu-race (built where configure finds CUDA and -fsanitize=thread, without --enable-asan)"
  exit 77
fi
cd "$tmp" || exit 1

races() { n=$(grep -c '^kemu: race' "$1"); echo "$n"; }

proxy="--N 2 --F 16 --batch 2 --input 32x32x3 --steps 1 --warmup 1"
# (on eight lanes only, where streams meet: one stream is the simpler case,
# and test_cuda_emu_race replays its recorded steps)
for lanes in 8; do
  KEMU_SMS=132 CELLAR_CUDA_LANES=$lanes "$EMU" bench --backend cuda $proxy >bench$lanes.out 2>bench$lanes.err; rc=$?
  check "the proxy (N 2, F 16, 32x32x3) split as on an H100, $lanes lane(s): a step recorded and replayed without a race ($(races bench$lanes.err) reported, exit $rc, $(jget bench$lanes.out graph_nodes 2>/dev/null) operations)" \
    sh -c "[ $rc -eq 0 ] && [ $(races bench$lanes.err) -eq 0 ] && [ '$(jget bench$lanes.out graph 2>/dev/null)' = True ]"
  grep -m3 '^kemu: race' bench$lanes.err
done

# children at once, each on a stream of its own (nothing of one may be
# touched by another); a step's ops on lanes run op by op, not recorded
small="--N 1 --F 4 --batch 4 --input 8x8x3 --steps 2 --warmup 1"
"$EMU" bench --backend cuda $small --children 3 >children.out 2>children.err; rc=$?
check "three children at once, each on its own stream, without a race ($(races children.err) reported, exit $rc, $(jget children.out queues 2>/dev/null) queues)" \
  sh -c "[ $rc -eq 0 ] && [ $(races children.err) -eq 0 ] && [ '$(jget children.out queues 2>/dev/null)' = 3 ]"
grep -m3 '^kemu: race' children.err
CELLAR_CUDA_GRAPH=0 CELLAR_CUDA_LANES=4 "$EMU" bench --backend cuda $small >eager.out 2>eager.err; rc=$?
check "a step on 4 lanes run op by op (no graph) without a race ($(races eager.err) reported, exit $rc)" \
  sh -c "[ $rc -eq 0 ] && [ $(races eager.err) -eq 0 ] && [ '$(jget eager.out graph 2>/dev/null)' = False ]"
grep -m3 '^kemu: race' eager.err

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "# Fashion-MNIST is not installed (Debian: dataset-fashion-mnist): no training run here"
  exit 0
fi
# a search, several trials training at once on streams of their own (two
# steps and one batch held out each: every access watched is slow)
tiny_experiment 64 32
"$EMU" run tiny.lua --backend cuda --db race.db >run.out 2>run.err; rc=$?
check "a search of 3 trials at once without a race ($(races run.err) reported, exit $rc: $(grep -m1 'at once' run.err))" \
  sh -c "[ $rc -eq 0 ] && [ $(races run.err) -eq 0 ] && grep -q '^[2-8] trials train at once on cuda' run.err"
grep -m3 '^kemu: race' run.err
exit 0
