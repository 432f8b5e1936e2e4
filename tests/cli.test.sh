#!/bin/sh
# cli.test.sh - the cellar command as a user meets it: help, show, bench,
# train (including the headline recipe: NASNet-A N=1 F=8, 2 epochs on
# 10,000 Fashion-MNIST images, at least 85% on the 10,000 test images),
# and the messages for bad input.
CELLAR=${CELLAR:-./cellar}
CELLAR=$(cd "$(dirname "$CELLAR")" && pwd)/$(basename "$CELLAR")   # some checks run in $tmp
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"   # a directory with no file named as a genotype

# --- help and usage ---
$CELLAR --help >"$tmp/help" 2>&1
check "cellar --help lists train, show and bench" grep -q "train.*show\|bench" "$tmp/help"
for c in train show bench; do
  $CELLAR $c --help >"$tmp/h" 2>&1; rc=$?
  check "cellar $c --help exits 0 and shows usage" sh -c "[ $rc -eq 0 ] && grep -q '^usage: cellar $c' '$tmp/h'"
done
$CELLAR frobnicate >"$tmp/e" 2>&1; rc=$?
check "an unknown command exits 2 and lists the commands" sh -c "[ $rc -eq 2 ] && grep -q 'unknown command' '$tmp/e' && grep -q train '$tmp/e'"
$CELLAR train --epochs two >"$tmp/e" 2>&1; rc=$?
check "a non-numeric --epochs is refused by name (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q -- \"--epochs: expected an integer, got 'two'\" '$tmp/e'"
$CELLAR train --bogus 1 >"$tmp/e" 2>&1; rc=$?
check "an unknown option is refused and the valid ones listed" sh -c "[ $rc -eq 2 ] && grep -q -- '--genotype' '$tmp/e'"
check "... nothing suggested for an option near none (--bogus)" sh -c "! grep -q 'did you mean' '$tmp/e'"
$CELLAR train --epoch 1 >"$tmp/e" 2>&1; rc=$?
check "a mistyped option: the nearest suggested (--epoch: did you mean --epochs?)" sh -c "[ $rc -eq 2 ] && grep -q -- \"unknown option '--epoch': did you mean --epochs?\" '$tmp/e'"
$CELLAR trian >"$tmp/e" 2>&1; rc=$?
check "a mistyped command: the nearest suggested (trian: did you mean train?)" sh -c "[ $rc -eq 2 ] && grep -q \"unknown command 'trian': did you mean train?\" '$tmp/e'"
$CELLAR show --genotype "normal: sep_conv_3x5(0) identity(1) add ; reduce: identity(0) identity(1) add" >"$tmp/e" 2>&1; rc=$?
check "a mistyped op: the nearest suggested (sep_conv_3x5: did you mean sep_conv_3x3?)" sh -c "[ $rc -eq 1 ] && grep -q \"got 'sep_conv_3x5': did you mean sep_conv_3x3?\" '$tmp/e'"
$CELLAR sh >/dev/null 2>&1; rc=$?
check "a unique prefix selects a command (sh = show)" [ $rc -eq 0 ]

# --- show ---
$CELLAR show --genotype nasnet-a >"$tmp/show" 2>&1
check "show: NASNet-A F=16 N=2 has 333946 parameters, as PyTorch" [ "$(jget "$tmp/show" params)" = 333946 ]
check "show: NASNet-A F=16 N=2 is 112449792 forward FLOPs per image" [ "$(jget "$tmp/show" flops)" = 112449792 ]
check "show: prints the stable hash" grep -q "^hash: bcdc613b57da6cc9" "$tmp/show"
(cd "$tmp/empty" && $CELLAR show nasnet-a --F 16) >"$tmp/show-pos" 2>&1
check "show G without --genotype (no such file): the same as --genotype G" cmp -s "$tmp/show" "$tmp/show-pos"
(cd "$tmp/empty" && $CELLAR show nasnet-b) >"$tmp/e" 2>&1; rc=$?
check "show G, neither a journal nor a genotype: both said (exit 1)" sh -c "[ $rc -eq 1 ] && grep -q 'nasnet-b: no such journal, nor a genotype' '$tmp/e'"
$CELLAR show --genotype nasnet-a --N 6 --F 32 >"$tmp/show6" 2>&1
check "show: NASNet-A 6@ F=32 has 3061738 parameters, as PyTorch" [ "$(jget "$tmp/show6" params)" = 3061738 ]
$CELLAR show --genotype list >"$tmp/list" 2>&1
check "show --genotype list names the built-ins" grep -q "^nasnet-a" "$tmp/list"
(cd "$tmp/empty" && $CELLAR show list) >"$tmp/list2" 2>&1
check "show list: the same" cmp -s "$tmp/list" "$tmp/list2"
$CELLAR show --genotype "normal: sep_conv_3x3(0) sep_conv_4x4(1) add ; reduce: identity(0) identity(1) add" >"$tmp/e" 2>&1; rc=$?
check "show: a bad op name is reported with its column and the valid ops" sh -c "[ $rc -eq 1 ] && grep -q 'column 25: expected an op name' '$tmp/e' && grep -q sep_conv_4x4 '$tmp/e' && grep -q 'sep_conv_5x5' '$tmp/e'"
$CELLAR show --genotype nasnet-z >"$tmp/e" 2>&1; rc=$?
check "show: an unknown name lists the built-in names" sh -c "[ $rc -eq 1 ] && grep -q \"unknown genotype name 'nasnet-z'\" '$tmp/e' && grep -q 'nasnet-a' '$tmp/e'"
$CELLAR show --input 30x30x1 --N 1 --F 8 >"$tmp/e" 2>&1; rc=$?
check "show: an input the layout cannot take is refused with a reason" sh -c "[ $rc -eq 1 ] && grep -q 'even size' '$tmp/e'"
$CELLAR show --input 32x32 >"$tmp/e" 2>&1; rc=$?
check "show: a malformed --input is refused" sh -c "[ $rc -eq 1 ] && grep -q 'HxWxC' '$tmp/e'"

# --- bench ---
$CELLAR bench --N 1 --F 8 --batch 8 --steps 2 --warmup 1 --threads 2 >"$tmp/bench" 2>"$tmp/bench.err"
check "bench prints exactly one line on stdout" [ "$(wc -l <"$tmp/bench")" -eq 1 ]
check "bench: the line is JSON with img_s > 0, step_ms and params" python3 -c "
import json; d = json.load(open('$tmp/bench'))
assert d['img_s'] > 0 and d['step_ms'] > 0 and d['params'] == 67282 and d['threads'] == 2, d"
$CELLAR bench --N 1 --F 8 --batch 8 --steps 1 --warmup 1 --threads 2 --children 2 >"$tmp/bench" 2>"$tmp/bench.err"; rc=$?
check "bench --children 2 on the CPU: two children in one queue, img_s counting both" python3 -c "
import json; d = json.load(open('$tmp/bench'))
assert $rc == 0 and d['children'] == 2 and d['queues'] == 1 and d['img_s'] > 0, d"
$CELLAR bench --children 0 >"$tmp/bench" 2>"$tmp/bench.err"; rc=$?
check "bench --children 0 is refused, naming the option" sh -c "[ $rc -ne 0 ] && grep -q 'children' '$tmp/bench.err' && [ ! -s '$tmp/bench' ]"
$CELLAR bench --N 1 --F 8 --batch 8 --steps 1 --warmup 0 --profile >"$tmp/bench" 2>"$tmp/prof"
check "bench --profile tables op classes on stderr, JSON stays alone on stdout" sh -c "grep -q 'depthwise 5x5' '$tmp/prof' && [ \$(wc -l <'$tmp/bench') -eq 1 ]"
check "... each op timed alone on the CPU, as the table says" grep -q '^# .*each op timed alone' "$tmp/prof"
check "... with each class's least traffic (MB) and bandwidth (GB/s), and a total" python3 -c "
import re, sys
t = open('$tmp/prof').read().splitlines()
head = [l for l in t if l.startswith('op (@ input size)')]
rows = [l.split() for l in t if l.startswith('depthwise') or l.startswith('pointwise') or l.startswith('batch norm')]
tot = [l.split() for l in t if l.startswith('all ')]
assert head and 'MB' in head[0] and 'GB/s' in head[0], head
# (a slow build on a busy machine rounds some bandwidths to 0.0)
assert rows and all(float(r[-2]) > 0 and float(r[-1]) >= 0 for r in rows) and any(float(r[-1]) > 0 for r in rows), rows
s = sum(float(l.split()[-2]) for l in t if re.match(r'^[a-z].* [0-9.]+%', l))
assert tot and abs(float(tot[0][-2]) - s) <= 0.1 * len(rows) + 0.5, (tot, s)"
# a build with CUDA on a machine without a GPU: --backend cuda says why
# (no driver at all is not "a driver too old"), auto takes the CPU
if $CELLAR --version | grep -q '^backends:.*cuda (' && [ ! -e /proc/driver/nvidia/version ]; then
  $CELLAR bench --backend cuda --N 1 --F 4 --batch 2 --steps 1 --warmup 0 >"$tmp/bench" 2>"$tmp/bench.err"; rc=$?
  check "bench --backend cuda without a GPU driver: exit 1, 'no NVIDIA driver is loaded'" sh -c "[ $rc -eq 1 ] && grep -q 'no CUDA device: no NVIDIA driver is loaded' '$tmp/bench.err' && [ ! -s '$tmp/bench' ]"
  $CELLAR bench --backend auto --N 1 --F 4 --batch 2 --steps 1 --warmup 0 >"$tmp/bench" 2>"$tmp/bench.err"; rc=$?
  check "... and --backend auto runs on the CPU" sh -c "[ $rc -eq 0 ] && grep -q '\"backend\":\"cpu\"' '$tmp/bench'"
fi

# --- train: errors ---
mkdir -p "$tmp/fm"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  printf 'garbage!' >"$tmp/fm/$f"
done
$CELLAR train --dataset "fashion-mnist:$tmp/fm" >"$tmp/e" 2>&1; rc=$?
check "train: a damaged dataset file is named in the error, with what is wrong" sh -c "[ $rc -eq 1 ] && grep -q '$tmp/fm/t.*-idx.-ubyte: ' '$tmp/e' && grep -qi 'magic\|truncated\|short' '$tmp/e'"
rm "$tmp/fm/train-labels-idx1-ubyte"
$CELLAR train --dataset "fashion-mnist:$tmp/fm" >"$tmp/e" 2>&1; rc=$?
check "train: a missing dataset file is named" sh -c "[ $rc -eq 1 ] && grep -q 'train-labels-idx1-ubyte' '$tmp/e'"
$CELLAR train --dataset cifar10 >"$tmp/e" 2>&1; rc=$?
check "train: cifar10 without a directory asks for one" sh -c "[ $rc -eq 1 ] && grep -qi 'director' '$tmp/e'"
$CELLAR train --train-limit 100000 >"$tmp/e" 2>&1; rc=$?
check "train: more training images than exist is refused with the numbers" sh -c "[ $rc -eq 1 ] && grep -q 60000 '$tmp/e'"

# --- train: the headline recipe ---
# CELLAR_TEST_SHORT=1 (the sanitizer build, four times slower) runs it on a
# tenth of the images and checks everything but the accuracy, which only
# the full recipe can reach
if [ -d /usr/share/datasets/fashion-mnist ]; then
  images=10000
  [ -n "${CELLAR_TEST_SHORT:-}" ] && images=1000
  $CELLAR train --genotype nasnet-a --dataset fashion-mnist --N 1 --F 8 --epochs 2 \
    --train-limit $images --test-limit $images >"$tmp/train" 2>"$tmp/train.err"
  rc=$?
  check "train: the 2-epoch Fashion-MNIST run finishes" [ $rc -eq 0 ]
  check "train: plain progress lines when not on a terminal" grep -q "^epoch 2/2: loss" "$tmp/train.err"
  acc=$(jget "$tmp/train" test_acc 2>/dev/null)
  if [ -z "${CELLAR_TEST_SHORT:-}" ]; then
    check "train: NASNet-A N=1 F=8, 2 epochs on 10000 images reaches >= 85% on the 10000 test images (got $acc)" \
      python3 -c "import sys; sys.exit(0 if float('$acc') >= 0.85 else 1)"
  else
    check "train: 2 epochs on 1000 images learn (test accuracy $acc > 50%)" \
      python3 -c "import sys; sys.exit(0 if float('$acc') > 0.5 else 1)"
  fi
  check "train: the JSON line has test_acc, params, seconds" python3 -c "
import json; d = json.loads(open('$tmp/train').read().splitlines()[-1])
assert d['params'] == 66850 and d['seconds'] > 0 and d['test_images'] == $images and d['train_images'] == $images, d"
else
  echo "skip - Fashion-MNIST is not installed (Debian: dataset-fashion-mnist)"
fi
