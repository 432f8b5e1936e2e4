#!/bin/sh
# render.test.sh - `cellar render` as a user runs it: NASNet-A to SVG, PNG,
# DOT and text (to files and to standard output), the format taken from
# the file's name, the genotype of a trial of a journal made by `cellar
# run` of a tiny experiment, and the messages for an unknown format, a
# missing trial, a missing journal and a bad genotype.  A cellar built
# without Graphviz must say so instead.
CELLAR=${CELLAR:-./cellar}
CELLAR=$(cd "$(dirname "$CELLAR")" && pwd)/$(basename "$CELLAR")   # the test changes directory
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

cd "$tmp" || exit 1

$CELLAR render --genotype nasnet-a --format svg -o x.svg >out 2>err; rc=$?
if [ $rc -ne 0 ] && grep -q 'built without Graphviz' err; then
  check "without Graphviz: render says so, names the package, exits 1" \
    sh -c "[ $rc -eq 1 ] && grep -q 'install libgraphviz-dev and rebuild' err"
  exit 0
fi

# --- files from a built-in genotype ---
check "svg: exit 0, nothing on stdout or stderr" sh -c "[ $rc -eq 0 ] && [ ! -s out ] && [ ! -s err ]"
check "svg: an SVG document with both cells and their ops" sh -c \
  "head -c 100 x.svg | grep -q '<?xml\|<svg' && grep -q '</svg>' x.svg && grep -q 'normal cell' x.svg &&
   grep -q 'reduction cell' x.svg && grep -q 'sep 7x7' x.svg && grep -q 'concat' x.svg"
$CELLAR render --genotype nasnet-a --format png -o x.png 2>err; rc=$?
check "png: exit 0, stderr empty" sh -c "[ $rc -eq 0 ] && [ ! -s err ]"
check "png: the PNG signature and a sane size in IHDR" $PY -c "
import struct
d = open('x.png', 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n' and d[12:16] == b'IHDR', d[:16]
w, h = struct.unpack('>II', d[16:24])
assert 300 <= w <= 10000 and 100 <= h <= 5000, (w, h)"
$CELLAR render --genotype nasnet-a -o x.dot 2>err; rc=$?
check "dot: the format from the extension; a laid-out digraph of 36 nodes" sh -c \
  "[ $rc -eq 0 ] && grep -q '^digraph' x.dot && grep -q 'pos=' x.dot &&
   [ \$(grep -cE '^\s+[nr][0-9]+\s+\[' x.dot) -eq 36 ]"
$CELLAR render --genotype nasnet-a --format ascii -o x.txt 2>err; rc=$?
check "ascii: a drawing with box characters, labels and arrows" sh -c \
  "[ $rc -eq 0 ] && grep -q 'normal cell' x.txt && grep -q 'reduction cell' x.txt &&
   grep -q '│ sep 5x5 │' x.txt && grep -q '▼' x.txt && grep -q '┌' x.txt"
$CELLAR render --genotype nasnet-a --format ascii -o - >stdout.txt 2>err; rc=$?
check "ascii -o -: the same drawing on stdout" sh -c "[ $rc -eq 0 ] && cmp -s x.txt stdout.txt"
$CELLAR render --genotype nasnet-a >default.txt 2>err; rc=$?
check "no --format and no -o: ascii on stdout" sh -c "[ $rc -eq 0 ] && cmp -s x.txt default.txt"
$CELLAR render --genotype nasnet-a --format svg -o - >stdout.svg 2>err; rc=$?
check "svg -o -: the same picture on stdout" sh -c "[ $rc -eq 0 ] && cmp -s x.svg stdout.svg"
$CELLAR render --genotype "normal: sep_conv_3x3(1) identity(1) concat ; reduce: max_pool_3x3(1) sep_conv_5x5(1) add" -o one.txt 2>err; rc=$?
check "a genotype line; one block per cell: its combiner is the output" sh -c \
  "[ $rc -eq 0 ] && grep -q 'out: concat' one.txt && grep -q 'out: add' one.txt && grep -q 'h\\[i-1\\]' one.txt"

# --- errors ---
$CELLAR render --genotype nasnet-a --format jpeg -o x.jpeg >out 2>err; rc=$?
check "an unknown format is refused with the valid ones (exit 1), no file" sh -c \
  "[ $rc -eq 1 ] && grep -q \"unknown format 'jpeg'\" err && grep -q 'svg, png, dot, ascii' err && [ ! -e x.jpeg ]"
$CELLAR render --genotype nasnet-a -o x.bmp >out 2>err; rc=$?
check "an unknown extension without --format asks for one (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'format' err"
$CELLAR render --genotype no-such-cell -o x.svg >out 2>err; rc=$?
check "a bad genotype is refused with the built-in names" sh -c "[ $rc -eq 1 ] && grep -q 'nasnet-a' err"
$CELLAR render >out 2>err; rc=$?
check "nothing to draw: usage error (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q -- '--genotype' err"
$CELLAR render nothere.db --trial 1 >out 2>err; rc=$?
check "a missing journal is named" sh -c "[ $rc -eq 1 ] && grep -q 'nothere.db' err"
$CELLAR render nasnet-a -o plain.txt >out 2>err; rc=$?
check "render G without --genotype, no such file: the genotype drawn" sh -c "[ $rc -eq 0 ] && cmp -s plain.txt x.txt"
$CELLAR render nasnet-b >out 2>err; rc=$?
check "render G, neither a file nor a genotype: both said (exit 1)" sh -c "[ $rc -eq 1 ] && grep -q 'nasnet-b: no such journal, nor a genotype' err"
$CELLAR render --genotype nasnet-a -o no-such-dir/x.svg >out 2>err; rc=$?
check "an unwritable file is named" sh -c "[ $rc -eq 1 ] && grep -q 'no-such-dir/x.svg' err"
$CELLAR render --help >out 2>&1; rc=$?
check "render --help: usage, exit 0" sh -c "[ $rc -eq 0 ] && grep -q '^usage: cellar render' out"

# --- the genotype of a trial of a journal ---
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "# Fashion-MNIST is not installed: no journal to render from"
  exit 0
fi
cat >tiny.lua <<'EOF'
-- two random trials of a small space: children train in about a second
cellar.experiment {
  name = "tiny",
  dataset = "fashion-mnist",
  train_images = 256, val_images = 128,
  space = cellar.space { ops = { "identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3" },
                         B = 3, combiners = { "add", "concat" } },
  child = { N = 1, F = 4, epochs = 1, batch = 32, lr = cellar.cosine(0.05, 0) },
  strategy = cellar.random {},
  budget = 2,
  seed = 5,
}
EOF
$CELLAR run tiny.lua --db tiny.db >run.out 2>run.err; rc=$?
check "a tiny search of 2 trials makes a journal" sh -c "[ $rc -eq 0 ] && [ -s tiny.db ]"
$CELLAR render tiny.db --trial 2 -o t2.txt >out 2>err; rc=$?
check "render DB --trial 2: drawn, nothing on stderr" sh -c "[ $rc -eq 0 ] && [ ! -s err ] && grep -q 'reduction cell' t2.txt"
geno=$(sql tiny.db "select genotype from trials where id=2")
$CELLAR render --genotype "$geno" -o g2.txt 2>err
check "the trial's drawing is its genotype's drawing" cmp -s t2.txt g2.txt
$CELLAR render tiny.db --trial 2 -o t2.svg 2>err; rc=$?
check "render DB --trial 2 to SVG" sh -c "[ $rc -eq 0 ] && grep -q '</svg>' t2.svg"
$CELLAR render tiny.db --trial 9 -o t9.svg >out 2>err; rc=$?
check "a missing trial says so with the journal's path (exit 1)" sh -c \
  "[ $rc -eq 1 ] && grep -q 'no trial 9' err && grep -q 'tiny.db' err && [ ! -e t9.svg ]"
$CELLAR render tiny.db -o tb.txt >out 2>err; rc=$?
bestid=$(sql tiny.db "select id from trials where state='done' order by reward desc, id limit 1")
$CELLAR render tiny.db --trial $bestid -o tn.txt 2>/dev/null
check "a journal without --trial: its best trial drawn, named on stderr" sh -c "[ $rc -eq 0 ] && grep -q '^cellar render: trial $bestid, the best of 2 in tiny.db (reward ' err && cmp -s tb.txt tn.txt"
$CELLAR render tiny.db --trial best -o tb2.txt 2>/dev/null
check "... as --trial best" cmp -s tb.txt tb2.txt
