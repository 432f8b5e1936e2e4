# lib.sh - what every tests/*.test.sh uses, sourced from beside it:
#   check "description" command...   prints "ok - description" when the
#                                    command succeeds, else "not ok - ..."
#   jget FILE KEY                    the value of KEY in FILE's last JSON line
#   sql DB QUERY                     the rows of a query, fields joined by |
#   best_reward DB                   the best reward, as cellar prints it
#   quick_experiment [IMAGES]        what to run as the shipped quick experiment
#   ppo_search TRAIN VAL B EPOCHS BUDGET   the Lua of a small PPO search
#   search7_experiment FILE          writes the 7-trial search of search.test.sh,
#                                    train.test.sh and hooks.test.sh
#   tiny_experiment [TRAIN VAL]      writes tiny.lua: a search of 3 trials at
#                                    once, of tiny children on Fashion-MNIST
PY=/usr/bin/python3; [ -x $PY ] || PY=python3
lib_src=$(cd "$(dirname "$0")/.." && pwd)

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
jget() { $PY -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }
sql() { $PY -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join(map(str,r)) for r in c.execute(sys.argv[2])))" "$@"; }
# best_reward DB: the journal's best reward to 4 places, rounded as cellar's
# printf rounds it (to even at an exact half: SQLite's printf rounds up)
best_reward() { $PY -c "import sqlite3,sys; print('%.4f' % sqlite3.connect(sys.argv[1]).execute('select max(reward) from trials').fetchone()[0])" "$1"; }
# The shipped quick experiment: its name, or quick.lua written in the
# current directory, the shipped file on fewer images: on IMAGES training
# images (and a quarter as many held out) when given, on 160 with
# CELLAR_TEST_SHORT (the sanitizer build, where a trial of the shipped
# file takes a minute, one of 160 images three seconds).  Exits the test when the file no longer reads as expected.
quick_experiment() {
  n=${1:-}
  [ -n "${CELLAR_TEST_SHORT:-}" ] && n=160
  if [ -z "$n" ]; then echo quick; return; fi
  sed "s/train_images = 4000/train_images = $n/; s/val_images = 1000/val_images = $((n / 4))/" \
    "$lib_src/lua/experiments/quick.lua" >quick.lua
  grep -q "train_images = $n," quick.lua || { echo "not ok - quick.lua no longer sets train_images = 4000"; exit 1; }
  echo quick.lua
}

# Lua for an experiment file: while a file named "hold" exists in the
# current directory, trial $1 waits after its first epoch (of two or more:
# the trial is still running), so a test can act on a search there,
# whatever the speed of the machine
hold_hook() {
  cat <<EOF
cellar.on("epoch", function(e)
  if e.trial == $1 and e.epoch == 1 then
    local f = io.open("hold")
    while f do f:close(); f = io.open("hold") end
  end
end)
EOF
}

# ppo_search TRAIN VAL B EPOCHS BUDGET: the Lua of a small PPO search
# named "tiny" (batch 3, so a device trains three trials at once) of N 1,
# F 4 children over TRAIN Fashion-MNIST images (VAL held out), cells of B
# blocks of four cheap ops, trained EPOCHS epochs each, BUDGET trials
ppo_search() {
  cat <<EOF
cellar.experiment {
  name = "tiny",
  dataset = "fashion-mnist",
  train_images = $1, val_images = $2,
  space = cellar.space { ops = { "identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3" },
                         B = $3, combiners = { "add" } },
  child = { N = 1, F = 4, epochs = $4, batch = 32, lr = cellar.cosine(0.05, 0) },
  strategy = cellar.ppo { batch = 3, hidden = 16 },
  budget = $5,
  seed = 11,
}
EOF
}

# search7_experiment FILE: the search search.test.sh, train.test.sh and
# hooks.test.sh start from, a PPO search of 7 trials of 2 epochs over 512
# images, each in about a second (with CELLAR_TEST_SHORT, the sanitizer
# builds, over 256)
search7_experiment() {
  images=512
  [ -n "${CELLAR_TEST_SHORT:-}" ] && images=256
  { echo "-- a small PPO search: children train in about a second"
    ppo_search $images $((images / 2)) 3 2 7
    echo "ends = 0"
    echo 'cellar.on("trial_end", function(t) ends = ends + 1 end)'
  } >"$1"
}

# tiny.lua in the current directory: a PPO search of 3 trials (trained at
# once on a device) of one epoch over 96 images (TRAIN when given), 64
# held out (VAL)
tiny_experiment() {
  ppo_search "${1:-96}" "${2:-64}" 2 1 3 >tiny.lua
}
