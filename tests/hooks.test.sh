#!/bin/sh
# hooks.test.sh - searches steered as a user steers them, beside
# search.test.sh: the recipe changed mid-run (the best is the newest
# recipe's), a hook that reads the journal (the median stopping rule,
# killed and resumed, stops the same trials), errors in an experiment
# file, a file of two experiments and its comparison table, the shipped
# quick experiment shortened by a command, and the workbench without a
# terminal.
CELLAR=${CELLAR:-./cellar}
CELLAR=$(cd "$(dirname "$CELLAR")" && pwd)/$(basename "$CELLAR")   # the test changes directory
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "skip - Fashion-MNIST is not installed (Debian: dataset-fashion-mnist)"
  exit 77
fi

search7_experiment "$tmp/tiny.lua"
# the test kills the search in trial 4, held there

cd "$tmp" || exit 1

# random_search NAME BUDGET: a random search of children trained 3 epochs
# on 192 images, in about 0.1 s each
random_search() {
  cat <<EOF
cellar.experiment {
  name = "$1", dataset = "fashion-mnist", train_images = 192, val_images = 128,
  space = cellar.space { ops = { "identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3" },
                         B = 2, combiners = { "add" } },
  child = { N = 1, F = 4, epochs = 3, batch = 32, lr = cellar.cosine(0.05, 0) },
  strategy = cellar.random {}, budget = $2, seed = 3,
}
EOF
}
# --- the recipe changed mid-run: results of different recipes do not
# compare, so the search's best (its lines, cellar.status()) is that of the
# newest recipe's trials, as show DB ranks them ---
random_search recipe 6 >recipe.lua
cat >>recipe.lua <<'EOF'
cellar.on("trial_end", function(t)
  if t.trial == 3 then cellar.set("child.epochs", 1) end
  local s = cellar.status()
  local f = io.open("status.txt", "a")
  f:write(t.trial, " ", s.ranked, " ", s.best_trial or "-", "\n")
  f:close()
end)
cellar.on("trial_start", function(t)
  if t.trial < 7 then return end
  local s = cellar.status()
  local f = io.open("status.txt", "a")
  f:write("start ", t.trial, " ", s.ranked, " ", s.best_trial or "-", "\n")
  f:close()
end)
EOF
$CELLAR run recipe.lua >rc.out 2>rc.err; rc=$?
check "recipe changed: the run finishes (exit $rc)" [ $rc -eq 0 ]
check "... the log says what changed and what the leaderboard ranks from then on" grep -q "^trial 4 is trained with another recipe, epochs=1 (was 3); the leaderboard ranks only this recipe's trials from now on (0 done so far)" rc.err
check "... trial 4's line counts its own reward the best" sh -c "grep '^trial 4/6: reward' rc.err | sed 's/.*reward \([0-9.]*\) (best \([0-9.]*\)).*/\1 \2/' | awk '{exit \$1 != \$2}'"
$CELLAR show recipe.db >rs.out 2>&1
$CELLAR show recipe.db --trial best --json >rb.json 2>&1
best_id=$(jget rb.json id)
best_r=$(jget rb.json reward)
check "... show ranks trials 4-6 and counts 1-3 apart" sh -c "[ \$(grep -c '^ *[1-3] ' rs.out) -eq 3 ] && grep -q '^(3 trials trained with an earlier recipe are not ranked here)' rs.out && [ $best_id -ge 4 ]"
check "... the run's last line: show's best, and the trials not ranked" sh -c "grep -q \"^recipe: best reward \$(printf '%.4f' $best_r) after 6 trials (0 failed; 3 trained with an earlier recipe, not ranked): \" rc.out && grep -qF \"\$(sql recipe.db 'select genotype from trials where id = $best_id')\" rc.out"
check "... cellar.status() in the hooks: ranked and best_trial as show has them" sh -c "[ \"\$(tail -1 status.txt)\" = '6 3 $best_id' ] && [ \"\$(sed -n 4p status.txt | cut -d' ' -f1-3)\" = '4 1 4' ]"
$CELLAR resume recipe.db --set budget=7 >rr.out 2>rr.err; rc=$?
want=$(sql recipe.db "select id from trials where id >= 4 and state = 'done' order by reward desc, id limit 1")
check "... resumed: the engine's best read from the journal is the newest recipe's" grep -qx "start 7 3 $best_id" status.txt
check "... and after trial 7, the best of 4 (trial $want; exit $rc)" sh -c "[ $rc -eq 0 ] && [ \"\$(tail -1 status.txt)\" = '7 4 $want' ]"

# --- a hook that reads the journal (cellar.epochs): the median stopping
# rule, killed in trial 9 and resumed, stops the trials the uninterrupted
# run stops ---
random_search median 12 >median.lua
cat >>median.lua <<'EOF'
cellar.on("epoch", function(e)
  if e.val_acc then return end
  local at = {}
  for _, m in ipairs(cellar.epochs{ epoch = e.epoch }) do
    if m.trial < e.trial then at[#at + 1] = m.acc end
  end
  if #at >= 5 then
    table.sort(at)
    if e.acc < at[(#at + 1) // 2] then
      cellar.stop_trial(e.trial, "below the median at epoch " .. e.epoch)
    end
  end
end)
cellar.on("trial_end", function(t)
  if t.trial ~= 12 then return end
  local one, all = cellar.epochs(3), cellar.epochs()
  local f = io.open("epochs.txt", "w")
  f:write(#one, " ", one[1].trial, " ", one[1].epoch, " ", one[3].epoch, " ",
          tostring(one[3].val_acc == cellar.trials()[3].reward), " ", #all, " ",
          #cellar.epochs{ epoch = 1 }, " ",
          #cellar.epochs{ trial = 99 }, "\n")
  f:close()
end)
EOF
$CELLAR run median.lua --db med.db >/dev/null 2>med.err; rc=$?
stopped=$(sql med.db "select group_concat(id) from trials where reason like 'stopped after epoch %: below the median%'")
check "median rule over cellar.epochs: the run stops trials below the median (exit $rc; $stopped)" sh -c "[ $rc -eq 0 ] && [ -n '$stopped' ] && [ '$stopped' != '$(sql med.db "select group_concat(id) from trials")' ]"
check "... cellar.epochs(3): trial 3's three epochs, the last with its reward; all rows; one epoch's; none of trial 99" [ "$(cat epochs.txt)" = "3 3 1 3 true $(sql med.db "select count(*) from metrics") $(sql med.db "select count(*) from metrics where epoch = 1") 0" ]
check "... as many epoch-1 rows as trials" [ "$(sql med.db "select count(*) from metrics where epoch = 1")" = 12 ]
cp median.lua median-cut.lua
hold_hook 9 >>median-cut.lua
: >hold
$CELLAR run median-cut.lua --db medcut.db >/dev/null 2>medcut.err &
pid=$!
wait_held() { [ -f medcut.db ] && [ "$(sql medcut.db "select count(*) from metrics where trial = 9")" = 1 ]; }
i=0; while [ $i -lt 3000 ] && ! wait_held; do sleep 0.1; i=$((i + 1)); done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
rm -f hold
check "... killed in trial 9 (8 finished)" [ "$(sql medcut.db "select count(*) from trials where state = 'done'")" = 8 ]
$CELLAR resume medcut.db >/dev/null 2>medres.err; rc=$?
whole=$(sql med.db "select group_concat(id || ' ' || printf('%.17g', reward) || ' ' || ifnull(reason, '-'), ';') from trials order by id")
cut=$(sql medcut.db "select group_concat(id || ' ' || printf('%.17g', reward) || ' ' || ifnull(reason, '-'), ';') from trials order by id")
check "... resumed (exit $rc): the same trials stopped at the same epochs, the same rewards" [ "$whole" = "$cut" ]

# --- errors in an experiment file ---
# --- a file of two experiments: a journal each and a table comparing
# them, of the trials each leaderboard ranks (the hook shortens the
# children after trial 2, so trials 1-2 of each do not compare) ---
cat >arms.lua <<'EOF'
local function arm(name, seed)
  cellar.experiment {
    name = name, dataset = "fashion-mnist", train_images = 512, val_images = 256,
    space = cellar.space { ops = { "identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3" },
                           B = 2, combiners = { "add" } },
    child = { N = 1, F = 4, epochs = 2, batch = 32 },
    strategy = cellar.random {}, budget = 8, seed = seed,
  }
end
arm("one", 1)
arm("two", 2)
cellar.on("trial_end", function(t) if t.trial == 2 then cellar.set("child.epochs", 1) end end)
EOF
$CELLAR run arms.lua >arms.out 2>arms.err; rc=$?
n=$(for a in one two; do sql arms-$a.db "select count(*) from trials where state = 'done'"; done | tr '\n' ' ')
check "run of a file with two experiments: one journal each, 8 done trials in each (exit $rc, done: $n)" [ "$rc:$n" = "0:8 8 " ]
for a in one two; do
  want=$($PY -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rec = c.execute(\"select hash_recipe from trials where hash_recipe != '' order by id desc limit 1\").fetchone()[0]
r = sorted((x for (x,) in c.execute(\"select reward from trials where state = 'done' and hash_recipe = ?\", (rec,))), reverse=True)
print('%-16s %-10s %7d %7d %9.4f %9.4f %9.4f' % (sys.argv[2], 'random', 8, 0, r[0], sum(r[:5]) / 5, sum(r) / len(r)))
" arms-$a.db $a)
  check "... the table's row for '$a': best, top-5 and mean of its 6 ranked trials ($want)" grep -qxF "$want" arms.out
done
check "... under its heading" grep -Eq '^experiment +strategy +trials +failed +best +top-5 +mean$' arms.out

printf 'cellar.experiment { name = "bad", space = cellar.space { ops = { "sep_conv_4x4" } } }\n' >bad.lua
$CELLAR run bad.lua >e.out 2>&1; rc=$?
check "run: an unknown op names the file and line and lists the valid ops" sh -c "[ $rc -eq 1 ] && grep -q 'bad.lua:1:' e.out && grep -q sep_conv_5x5 e.out"
printf 'cellar.experiment {\n  name = "bad",\n  chlid = {}\n}\n' >bad2.lua
$CELLAR run bad2.lua >e.out 2>&1; rc=$?
check "run: an unknown setting lists the valid ones" sh -c "[ $rc -eq 1 ] && grep -q 'chlid' e.out && grep -q 'child' e.out"

# --- the shipped quick experiment, shortened by a command ---
quick=$(quick_experiment) || { echo "$quick"; exit 1; }
$CELLAR run $quick --db quick.db --set budget=1 >q.out 2>q.err; rc=$?
check "run quick --set budget=1: the embedded default runs 1 trial" [ "$rc:$(sql quick.db "select count(*) from trials where state='done'")" = "0:1" ]
check "run --set: the change is journaled as a command from the command line" [ "$(sql quick.db "select name || '=' || new_value || ' ' || source from commands")" = "set budget=1 cli" ]

# --- the workbench without a terminal runs the search headless ---
sed 's/budget = 7/budget = 2/' tiny.lua >two.lua
if $CELLAR --version | grep -q "screen: yes"; then
  $CELLAR two.lua --db two.db </dev/null >two.out 2>two.err; rc=$?
  check "cellar FILE without a terminal: says so and runs the search headless (exit $rc)" sh -c "[ $rc -eq 0 ] && grep -q \"no terminal, so no screen: running it as 'cellar run two.lua'\" two.err && grep -q '^tiny: best reward' two.out"
  check "... to its budget, in the journal named by --db" [ "$(sql two.db "select count(*) from trials where state='done'")" = 2 ]
fi
