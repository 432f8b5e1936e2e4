#!/bin/sh
# search.test.sh - searches as a user runs them: `cellar run` on a Lua
# experiment to its budget; the same run killed with SIGKILL in the middle
# of a trial and finished by `cellar resume`, which must end with the same
# trials (same genotypes, same rewards, ids 1..N, none lost or duplicated)
# as the uninterrupted run; several trials at once; trials stopped early by
# a hook; the leaderboard, the policy and the export of a journal.  (The
# trainings of its cells: train.test.sh; searches steered by recipes and
# hooks, experiment files: hooks.test.sh.)
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
hold_hook 4 >>"$tmp/tiny.lua"

cd "$tmp" || exit 1
# --- an uninterrupted run ---
$CELLAR run tiny.lua --db whole.db >run.out 2>run.err; rc=$?
check "run: a PPO search of 7 trials finishes (exit 0)" [ $rc -eq 0 ]
check "run: it ends with the best genotype and its reward" grep -q "^tiny: best reward 0\.[0-9]* after 7 trials (0 failed): normal: " run.out
check "run: one plain line per trial when not on a terminal" [ "$(grep -c '^trial [0-9]*/7: reward' run.err)" -eq 7 ]
check "run: the controller updated twice (batch 3) and said so" [ "$(grep -c '^controller update' run.err)" -eq 2 ]
check "run: the journal holds 7 done trials, ids 1..7" [ "$(sql whole.db "select group_concat(id) from trials where state='done'")" = "1,2,3,4,5,6,7" ]
check "run: the journal holds the experiment's Lua source" [ "$(sql whole.db "select instr(source, 'cellar.experiment') > 0 from experiment")" = 1 ]
check "run: per-epoch metrics for every trial (2 epochs each)" [ "$(sql whole.db "select count(*) from metrics")" = 14 ]
check "run: controller steps journaled with entropy and reward average" [ "$(sql whole.db "select count(*) from controller_steps where entropy > 0 and reward_ema > 0")" = 2 ]
$CELLAR run tiny.lua --db whole.db >/dev/null 2>again.err; rc=$?
check "run: an existing journal is not overwritten without --force" sh -c "[ $rc -eq 1 ] && grep -q 'whole.db exists' again.err && grep -q 'cellar resume whole.db' again.err"

$CELLAR resume whole.db >spent.out 2>spent.err; rc=$?
check "resume of a search whose budget is spent: says so and how to go on, runs nothing (exit 0)" sh -c "[ $rc -eq 0 ] && grep -q 'resuming tiny: ppo search, budget 7 trials' spent.err && grep -q 'its budget is spent (7 trials); to go on: cellar resume whole.db --set budget=N, N > 7' spent.err && ! grep -q '^trial ' spent.err"
check "... the journal as it was (7 trials)" [ "$(sql whole.db "select count(*) from trials")" = 7 ]

# --- killed with SIGKILL in the middle of trial 4, then resumed ---
: >hold
$CELLAR run tiny.lua --db cut.db >cut.out 2>cut.err &
pid=$!
state=""
for i in $(seq 1 3000); do   # up to 5 minutes (a sanitizer build on a busy machine)
  # only once cellar has made the file: sqlite3.connect would create an empty
  # cut.db first, and cellar rightly refuses to overwrite an existing file
  [ -f cut.db ] || { sleep 0.1; continue; }
  # (held after its first epoch, which is journaled before the hook holds it)
  state=$(sql cut.db "select count(*) from trials where state='done'" 2>/dev/null)":"$(sql cut.db "select count(*) from trials where state='running' and id=4" 2>/dev/null)":"$(sql cut.db "select count(*) from metrics where trial=4" 2>/dev/null)
  [ "$state" = "3:1:1" ] && break
  sleep 0.1
done
# while it runs, a second search on its journal is refused, naming it
$CELLAR resume cut.db >/dev/null 2>twice.err; rc=$?
check "resume while the search runs: refused (exit 1), naming its process" sh -c "[ $rc -eq 1 ] && grep -q 'cut.db: in use: a search is running on it (cellar process $pid)' twice.err"
$CELLAR run tiny.lua --db cut.db --force >/dev/null 2>force.err; rc=$?
kept=$(sql cut.db "select count(*) from trials where state='done'")
check "run --force while the search runs: refused, the journal kept" sh -c "[ $rc -eq 1 ] && grep -q 'cut.db: in use' force.err && [ '$kept' = 3 ]"
$CELLAR show cut.db >during.out 2>&1
check "show while the search runs: trial 4 running, the search's process named" sh -c "grep -q '^trials: 3 done, 0 failed, 1 running' during.out && grep -q '^search: running (cellar process $pid)' during.out"
check "... and the epoch trial 4 is in (held after its first of two)" grep -q '^running: trial 4, epoch 2 of 2 under way$' during.out
alive=no; kill -0 $pid 2>/dev/null && alive=yes
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
$CELLAR show cut.db >after.out 2>&1
check "show after SIGKILL: trial 4 interrupted, the search not running, resume named" sh -c "grep -q '^trials: 3 done, 0 failed, 1 interrupted' after.out && grep -q \"^search: not running ('cellar resume cut.db' continues it)\" after.out"
rm -f hold
check "kill: SIGKILL lands while trial 4 is running (3 done, trial 4 running, its first epoch journaled)" [ "$state" = "3:1:1" ]
check "kill: the search was still running when killed" [ $alive = yes ]
check "kill: the journal after SIGKILL holds trial 4 as running" [ "$(sql cut.db "select state from trials where id=4")" = running ]
$CELLAR resume cut.db >resume.out 2>resume.err; rc=$?
check "resume: the killed search finishes (exit 0)" [ $rc -eq 0 ]
check "resume: it says the interrupted trial runs again" grep -q "trial 4 was interrupted" resume.err
check "resume: 7 done trials, ids 1..7, none running or pending" [ "$(sql cut.db "select group_concat(id) || ':' || (select count(*) from trials where state<>'done') from trials where state='done'")" = "1,2,3,4,5,6,7:0" ]
whole=$(sql whole.db "select group_concat(genotype || ' ' || printf('%.17g', reward), ';') from trials order by id")
cut=$(sql cut.db "select group_concat(genotype || ' ' || printf('%.17g', reward), ';') from trials order by id")
check "resume: the same genotypes with the same rewards as the uninterrupted run" [ "$whole" = "$cut" ]
check "resume: trial 4's metrics are not doubled" [ "$(sql cut.db "select count(*) from metrics where trial=4")" = 2 ]

# --- several trials at once ---
sed 's/budget = 7/budget = 4/' tiny.lua >par.lua
# a hook reads the controller where it stands after its update
cat >>par.lua <<'EOF'
cellar.on("controller_update", function(u)
  local p = cellar.policy()
  local f = io.open("hook-policy.txt", "w")
  f:write(p.step, " ", #p.decisions, " ", p.decisions[3].choice, " ", p.genotype, "\n")
  f:close()
end)
EOF
$CELLAR run par.lua --db par.db --parallel 2 >par.out 2>par.err; rc=$?
check "run --parallel 2: the search finishes with its 4 trials, ids 1..4" [ "$rc:$(sql par.db "select group_concat(id) from (select id from trials where state='done' order by id)")" = "0:1,2,3,4" ]
$CELLAR show par.db --policy --json >parpol.json
check "... a hook's cellar.policy(): the update the journal holds (step, 30 decisions, a choice, the cell)" $PY -c "
import json; d=json.load(open('parpol.json')); h=open('hook-policy.txt').read().split(' ', 3)
assert h[0]=='1' and h[1]=='30' and h[2]==d['decisions'][2]['choice'] and h[3].strip()==d['genotype'], (h, d['genotype'])"
$CELLAR run par.lua --db par2.db --parallel 17 >/dev/null 2>par2.err; rc=$?
check "run --parallel 17: refused with the range (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q -- '--parallel: 17 is out of range (0 to 16)' par2.err"

# --- trials stopped early by a hook ---
sed 's/budget = 7/budget = 4/' tiny.lua >stop.lua
cat >>stop.lua <<'EOF'
cellar.on("epoch", function(e)
  if e.trial % 2 == 0 and not e.val_acc then
    local f = io.open("stop-said.txt", "a")
    f:write(e.trial, " ", tostring(cellar.stop_trial(e.trial, "an even trial")), " ",
            tostring(cellar.stop_trial(e.trial + 1, "not training")), "\n")
    f:close()
  end
end)
EOF
$CELLAR run stop.lua --db stop.db >stop.out 2>stop.err; rc=$?
check "a hook's cellar.stop_trial: the search finishes (exit $rc), trials 2 and 4 stopped after epoch 1 of 2" [ "$rc:$(sql stop.db "select group_concat(id || '=' || ifnull(reason, '-'), ';') from trials")" = "0:1=-;2=stopped after epoch 1 of 2: an even trial;3=-;4=stopped after epoch 1 of 2: an even trial" ]
check "... it said true for them, false for a trial not training" [ "$(cat stop-said.txt)" = "$(printf '2 true false\n4 true false')" ]
check "... their one epoch journaled with its validation accuracy, the reward; the others' two" [ "$(sql stop.db "select group_concat(t.id || ':' || (select count(*) from metrics m where m.trial = t.id) || ':' || (select count(*) from metrics m where m.trial = t.id and m.val_acc = t.reward), ' ') from trials t")" = "1:2:1 2:1:1 3:2:1 4:1:1" ]
check "... the commands journaled with the hook's reason" [ "$(sql stop.db "select group_concat(name || ': ' || new_value || ', ' || source, ';') from commands")" = "stop trial 2: an even trial, lua;stop trial 4: an even trial, lua" ]
check "... the run's line for trial 2 says it" grep -q '^trial 2/4: reward 0\.[0-9]* (stopped after epoch 1 of 2: an even trial)' stop.err
$CELLAR show stop.db --trial 2 >stop-show.out 2>&1
check "... show --trial says why it stopped" grep -q '^stopped after epoch 1 of 2: an even trial$' stop-show.out
$CELLAR show stop.db >stop-board.out 2>&1
check "... the leaderboard names them as stopped early" grep -q -E "^\(stopped early, so trained fewer epochs: trials (2, 4|4, 2); 'cellar show stop.db --trial ID' says why\)$" stop-board.out
$CELLAR show stop.db --json >stop-board.json
check "... its JSON marks them" $PY -c "
import json; d=json.load(open('stop-board.json')); assert sorted(t['trial'] for t in d['top'] if t['stopped'])==[2, 4], d"

$CELLAR show whole.db >show.out 2>&1; rc=$?
check "show DB: a leaderboard of the 7 trials" sh -c "[ $rc -eq 0 ] && grep -q '^   1 ' show.out && grep -q '^   7 ' show.out && grep -q 'rank.*reward.*accuracy.*params' show.out"
check "show DB: the controller's line counts the decisions it has settled" grep -q "^controller: 2 updates; entropy [0-9.]*, reward average 0\.[0-9]*; [0-9]* of 30 decisions settled ('cellar show whole.db --policy')$" show.out
best=$(best_reward whole.db)
check "show DB: rank 1 has the best reward ($best)" sh -c "grep '^   1 ' show.out | grep -q ' $best '"
$CELLAR show whole.db --json >show.json
check "show DB --json: valid JSON with the top trials" $PY -c "import json; d=json.load(open('show.json')); assert d['done']==7 and len(d['top'])==7, d"
$CELLAR export whole.db --json >export.json; rc=$?
check "export --json: every trial with its metrics" $PY -c "
import json; t=json.load(open('export.json')); assert $rc==0 and len(t)==7 and all(len(x['metrics'])==2 for x in t) and t[0]['state']=='done', t[0]"
$CELLAR export whole.db --csv >export.csv
check "export --csv: a header and 7 rows" [ "$(wc -l <export.csv)" -eq 8 ]
$CELLAR export whole.db --epochs >epochs.csv; rc=$?
check "export --epochs: a row per epoch, as export --json's metrics" $PY -c "
import csv, json
rows=list(csv.DictReader(open('epochs.csv'))); t=json.load(open('export.json'))
want=[(x['id'], m['epoch'], m['train_loss'], m['val_acc']) for x in t for m in x['metrics']]
got=[(int(r['trial']), int(r['epoch']), float(r['train_loss']), float(r['val_acc']) if r['val_acc'] else None) for r in rows]
assert $rc==0 and len(got)==14 and all(a[:2]==b[:2] and abs(a[2]-b[2])<1e-8 and (a[3] is None)==(b[3] is None) for a,b in zip(got,want)), (got, want)"
bestid=$(sql whole.db "select id from trials where state='done' order by reward desc, id limit 1")
$CELLAR show whole.db --trial best >best.out 2>&1; rc=$?
check "show DB --trial best: trial $bestid, rank 1 of 7, its reward" sh -c "[ $rc -eq 0 ] && grep -q '^trial $bestid of tiny (journal whole.db): done, rank 1 of 7 (the best)' best.out && grep -q '^reward: $best ' best.out"
check "... its two epochs, the last with its validation accuracy" sh -c "[ \"\$(grep -c -E '^ +[12] +[0-9.]+ +[0-9.]+%' best.out)\" = 2 ] && grep -E '^ +2 ' best.out | grep -q -E '%.+%'"
$CELLAR show whole.db --trial 3 --json >t3.json; rc=$?
check "show DB --trial 3 --json: the record export gives, with its rank" $PY -c "
import json; d=json.load(open('t3.json')); e=[x for x in json.load(open('export.json')) if x['id']==3][0]
r=d.pop('rank'); n=d.pop('ranked'); assert $rc==0 and d==e and n==7 and 1<=r<=7, (d, e)"
$CELLAR show whole.db --trial 9 >e.out 2>&1; rc=$?
check "show DB --trial 9: no such trial, the journal's count said (exit 1)" sh -c "[ $rc -eq 1 ] && grep -q 'no trial 9 in the journal whole.db (it holds 7 trials)' e.out"
$CELLAR show whole.db --trial last >e.out 2>&1; rc=$?
check "show DB --trial last: a number or 'best' expected (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q \"expected a trial number (1, 2, ...) or 'best', got 'last'\" e.out"
$CELLAR show --trial 2 >e.out 2>&1; rc=$?
check "show --trial without a journal: refused (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'for a journal' e.out"
$CELLAR show whole.db --policy >pol.out 2>&1; rc=$?
check "show DB --policy: the controller after its last update, learned from trials 4-6" sh -c "[ $rc -eq 0 ] && grep -q '^the controller after update 2 of 2 (learned from trials 4-6): entropy [0-9.]*, reward average 0\.[0-9]*$' pol.out"
check "... a row per decision: 30 (two cells of 3 blocks of 5)" [ "$(grep -c -E '^(normal|reduce) +[1-3]  ' pol.out)" = 30 ]
$CELLAR show whole.db --policy --json >pol.json; rc=$?
check "... --json: each decision's likeliest choice its most probable, its probabilities summing to 1" $PY -c "
import json; d=json.load(open('pol.json')); ds=d['decisions']
assert $rc==0 and d['step']==2 and d['steps']==2 and len(ds)==30, d
for x in ds:
    pr=x['probs']; assert abs(sum(pr.values())-1)<1e-3 and pr[x['choice']]==max(pr.values()) and x['p']==pr[x['choice']], x
assert d['settled']==sum(x['p']>=0.9 for x in ds) and d['settled']>=6, d['settled']   # the combiner: add alone"
geno=$($PY -c "import json; print(json.load(open('pol.json'))['genotype'])")
$CELLAR show --genotype "$geno" --N 1 --F 4 >pol-g.out 2>&1
check "... its most likely cell is a genotype of the space" sh -c "grep -q '^hash: ' pol-g.out && ! echo '$geno' | grep -q -E 'sep_conv_[57]|conv_1x1|concat'"
$CELLAR show whole.db --update 1 >pol1.out 2>&1
check "show DB --update 1: the first update" grep -q '^the controller after update 1 of 2 (learned from trials 1-3)' pol1.out
$CELLAR show whole.db --update 5 >e.out 2>&1; rc=$?
check "show DB --update 5: the journal holds 1 to 2 (exit 1)" sh -c "[ $rc -eq 1 ] && grep -q 'no controller update 5: the journal holds 1 to 2' e.out"
$CELLAR show whole.db --policy --top 3 >e.out 2>&1; rc=$?
check "show DB --policy --top 3: one or the other (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'one of them' e.out"
$CELLAR show nothere.db >e.out 2>&1; rc=$?
check "show: a missing journal is named" sh -c "[ $rc -eq 1 ] && grep -q nothere.db e.out"
printf 'not a database at all, not at all' >junk.db
$CELLAR resume junk.db >e.out 2>&1; rc=$?
check "resume: a file that is not a journal is refused" sh -c "[ $rc -eq 1 ] && grep -q 'not a cellar journal' e.out"
