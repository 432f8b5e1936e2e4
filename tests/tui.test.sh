#!/bin/sh
# tui.test.sh - the workbench screen driven under tmux (send-keys,
# capture-pane): on the shipped quick experiment (on a tenth of its
# images: the screen's test needs trials, not their accuracy) the charts and the
# leaderboard fill as trials finish; pause stops new trials and resume
# restarts them; the screen stays coherent at 80x24 and back; quitting
# leaves a journal `cellar resume` accepts; a learning rate set from the
# console is journaled and used by the next controller update; the screen
# opened on the journal of a search another process runs watches it.
CELLAR=${CELLAR:-./cellar}
CELLAR=$(cd "$(dirname "$CELLAR")" && pwd)/$(basename "$CELLAR")
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
sock=cellar-test-$$
T() { tmux -L "$sock" "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

# check, giving the screen up to 10 s to get there
check_soon() { d=$1; shift; i=0; while [ $i -lt 100 ]; do if "$@"; then ok "$d"; return; fi; sleep 0.1; i=$((i + 1)); done; nok "$d"; }
# lib.sh's sql, quiet: the journal is read while the search writes it
sql() { $PY -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join(map(str,r)) for r in c.execute(sys.argv[2])))" "$@" 2>/dev/null; }
screen() { T capture-pane -t w -p; }
on_screen() { screen | grep -q -- "$1"; }
# the plot has dots: braille characters, or '*' and '.' without UTF-8
has_plot() { $PY -c "import sys; t=open(sys.argv[1], encoding='utf-8', errors='replace').read(); sys.exit(0 if any(0x2801 <= ord(c) <= 0x28ff for c in t) or '*' in t else 1)" "$1"; }
done_is() { [ "$(sql "$1" "select count(*) from trials where state='done'")" = "$2" ]; }
# wait until a shell condition holds (up to $1 tenths of a second)
wait_for() { n=$1; shift; i=0; while [ $i -lt $n ]; do if eval "$@"; then return 0; fi; sleep 0.1; i=$((i + 1)); done; return 1; }

command -v tmux >/dev/null || { echo "skip - tmux is not installed"; exit 77; }
$CELLAR --version | grep -q "screen: yes" || { echo "skip - this cellar has no screen"; exit 77; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "skip - Fashion-MNIST is not installed"; exit 77; }

cd "$tmp" || exit 1
quick=$(quick_experiment 400) || { echo "$quick"; exit 1; }
T new-session -d -s w -x 120 -y 40 "$CELLAR $quick --db q.db; echo \$? >exit.status; sleep 600"
wait_for 3000 '[ -f q.db ] && [ "$(sql q.db "select count(*) from trials where state=\"done\"")" -ge 2 ]'
check "the workbench runs quick.lua: two trials finish" [ "$(sql q.db "select count(*) from trials where state='done'")" -ge 2 ]
sleep 0.5
screen >s1.txt
check "the status line names the experiment, strategy and state" grep -q "^ quick | ppo | running | [0-9]*/60 trials" s1.txt
check "the leaderboard fills with finished trials" sh -c "grep -q 'leaderboard: [0-9]* trials' s1.txt && grep -E -q '^.* +1 +[0-9]+ +0\.[0-9]{4} +0\.[0-9]{4} .*done' s1.txt"
check "the reward chart shows the latest reward and its average" grep -q "reward: 0\.[0-9]*, average 0\.[0-9]*" s1.txt
check "the reward chart has its axes" grep -q "trial 60" s1.txt
check "the charts plot their values" has_plot s1.txt
check "the cell pane draws the selected trial's cells" sh -c "grep -q 'trial [0-9]*: both cells' s1.txt && grep -Eq 'sep|avg|max|conv|identity|dil|Graphviz' s1.txt"
if $CELLAR --version | grep -q "cell rendering: yes"; then
  # Graphviz lays the cells out: boxes drawn with box characters, arrows into them
  check "the cell pane draws boxes and arrows (Graphviz layout)" $PY -c "
import sys; t=open('s1.txt', encoding='utf-8').read()
sys.exit(0 if all(c in t for c in '\u250c\u2510\u2514\u2518') and any(c in t for c in '\u25bc\u25b6\u25b2\u25c0') and 'h[i-1]' in t else 1)"
  T send-keys -t w r
  id=$(grep -o 'trial [0-9]*: both cells' s1.txt | head -1 | grep -o '[0-9]*')
  check_soon "r renders the selected trial to SVG and PNG and says where" on_screen "rendered trial $id to q-trial-$id.svg"
  check "... a valid SVG and a PNG" $PY -c "
import sys, xml.dom.minidom as m
d = m.parse('q-trial-$id.svg'); assert d.documentElement.tagName == 'svg'
assert open('q-trial-$id.png', 'rb').read(8) == b'\x89PNG\r\n\x1a\n'"
fi

# --- pause stops new trials, resume restarts them ---
T send-keys -t w p
check_soon "p pauses: the status line says paused" on_screen "^ quick | ppo | paused |"
before=$(sql q.db "select count(*) from trials")
sleep 12
after=$(sql q.db "select count(*) from trials")
check "while paused no new trial starts ($before trials before, $after after 12 s)" [ "$before" = "$after" ]
T send-keys -t w p
wait_for 3000 '[ "$(sql q.db "select count(*) from trials")" -gt "$after" ]'
check "p again resumes: new trials start" [ "$(sql q.db "select count(*) from trials")" -gt "$after" ]
check "pause and resume are journaled from the keys" [ "$(sql q.db "select group_concat(name) from commands where source='key'")" = "pause,resume" ]

# --- the console ---
T send-keys -t w :
sleep 0.3
T send-keys -t w -l 'cellar.set("entropy_weight", 0.002)'
T send-keys -t w Enter
T send-keys -t w -l 'cellar.status().budget * 2'
T send-keys -t w Enter
check_soon "the console shows a value it computed" on_screen "= 120"
check "a setting changed from the console is journaled as from the console" [ "$(sql q.db "select name || ' ' || new_value from commands where source='console'")" = "set entropy_weight 0.002" ]
if $CELLAR --version | grep -q "cell rendering: yes"; then
  T send-keys -t w -l 'cellar.render(1, "trial1.svg")'
  T send-keys -t w Enter
  check_soon "the console renders trial 1 to a file it names" on_screen "= trial1.svg"
  check "... a valid SVG" $PY -c "import xml.dom.minidom as m; assert m.parse('trial1.svg').documentElement.tagName == 'svg'"
fi
T send-keys -t w -l 'string.rep("0123456789", 14) .. "TAIL"'
T send-keys -t w Enter
log_pane() { # the log pane's text, its rows joined (wrapped lines whole again)
  screen | $PY -c "
import sys
rows = sys.stdin.read().split('\n')
top = next(i for i, r in enumerate(rows) if '─ log' in r)
x = rows[top].index('─ log') - 1
print(''.join(r[x + 1:].split('│')[0] for r in rows[top + 1:] if len(r) > x and r[x] == '│'))"
}
in_log() { log_pane | grep -q -- "$1"; }
check_soon "a value wider than the log is wrapped, shown whole (= 0123456789 x 14 TAIL)" in_log "= $(printf '0123456789%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14)TAIL"
T send-keys -t w -l 'help("status")'
T send-keys -t w Enter
check_soon "help(name) in the console: the call and what it gives" on_screen "cellar.status() *the search's state"
T send-keys -t w -l 'nosuchfunction()'
T send-keys -t w Enter
check_soon "an error in the console is shown with where it happened" on_screen "console:1: undefined global 'nosuchfunction'"
check "... and the screen stays" on_screen "leaderboard"
T send-keys -t w Escape

# --- resize to 80x24 and back ---
coherent() { # the status line on top, the key hints at the bottom, every pane's title
  screen >s3.txt
  head -1 s3.txt | grep -q '^ quick | ppo |' && tail -1 s3.txt | grep -q '^ p pause/resume' &&
    grep -q 'leaderboard' s3.txt && grep -q 'log' s3.txt && grep -Eq 'policy entropy|entropy:' s3.txt &&
    grep -q 'reward' s3.txt && grep -q 'trial [0-9]*: ' s3.txt &&
    [ "$(wc -l <s3.txt)" -eq "$1" ] &&
    $PY -c "import sys; sys.exit(0 if max(len(l) for l in open('s3.txt', encoding='utf-8').read().split('\n')) <= $2 else 1)"
}
T resize-window -t w -x 80 -y 24
check_soon "at 80x24 the screen is coherent: status, hints, charts, leaderboard, cells, log" coherent 24 80
T resize-window -t w -x 120 -y 40
check_soon "back at 120x40 it is coherent again" coherent 40 120

# --- the help overlay lists the keys ---
T send-keys -t w ?
check_soon "? shows the keys" on_screen "pause the search"
T send-keys -t w x
check_soon "any key closes the help" on_screen "lua>\|log"

# --- quit: asks, stops, leaves a journal resume accepts ---
T send-keys -t w q
check_soon "q asks before stopping a running search" on_screen "Stop it and quit? (y/n)"
T send-keys -t w y
wait_for 600 '[ -f exit.status ]'
check "y quits with status 0" [ "$(cat exit.status 2>/dev/null)" = 0 ]
done_now=$(sql q.db "select count(*) from trials where state='done'")
$CELLAR resume q.db --quiet --set budget=$((done_now + 1)) >resume.out 2>&1; rc=$?
check "cellar resume accepts the journal (exit $rc)" [ $rc -eq 0 ]
check "... and finishes one more trial" done_is q.db $((done_now + 1))

# --- a learning rate set from the console is used by the next update ---
# small_search NAME EPOCHS BUDGET SEED: a PPO search (batch 3) of N 1, F 4
# children over 256 images, its experiment file on standard output
small_search() {
  cat <<EOF
cellar.experiment { name = "$1", dataset = "fashion-mnist", train_images = 256, val_images = 128,
  space = cellar.space { ops = { "identity", "avg_pool_3x3", "sep_conv_3x3" }, B = 2 },
  child = { N = 1, F = 4, epochs = $2, batch = 32 }, strategy = cellar.ppo { batch = 3, hidden = 16 },
  budget = $3, seed = $4 }
EOF
}
small_search fast 1 6 4 >fast.lua
# the new session first, then the old one gone: killing the server's
# only session makes it exit, and a session started at that moment meets
# "server exited unexpectedly"
T new-session -d -s w2 -x 120 -y 40 "$CELLAR fast.lua --db f.db; echo \$? >exit2.status; sleep 600"
T kill-session -t w
T rename-session -t w2 w
wait_for 600 '[ -f f.db ]'
T send-keys -t w p
T send-keys -t w :
sleep 0.3
T send-keys -t w -l 'cellar.set("lr", 0.0123)'
T send-keys -t w Enter Escape p
wait_for 3000 'screen | grep -q "| finished |"'
check "fast.lua runs to its budget in the screen" on_screen "^ fast | ppo | finished | 6/6 trials"
check "the controller updates after the console's set use lr 0.0123" [ "$(sql f.db "select group_concat(lr) from controller_steps")" = "0.0123,0.0123" ]
check "the journal holds the console's set lr" [ "$(sql f.db "select name || ' ' || old_value || ' ' || new_value || ' ' || source from commands where name='set lr'")" = "set lr 0.00035 0.0123 console" ]
top=$(sql f.db "select id from trials where state='done' order by reward desc, id limit 1")
T send-keys -t w Home Enter
check_soon "Enter: the selected trial's record (the best, $top), its rank said" on_screen "trial $top: done, rank 1 of [0-9]* (the best) .*any key closes this"
check "... with its epoch: training loss and accuracy, validation accuracy" on_screen " 1  \+[0-9.]\+  \+[0-9.]\+%  \+[0-9.]\+%  "
T send-keys -t w Escape
overlay_closed() { ! on_screen "any key closes this"; }
check_soon "... any key closes it" overlay_closed
T send-keys -t w c
check_soon "c: where the controller stands, after its second update (trials 4-6)" on_screen "the controller after update 2 (trials 4-6): entropy [0-9.]*, reward average"
check "... its decisions, block by block, the likeliest choice with its probability" on_screen "normal 1  \+[a-z0-9_\[-]\+\]\? [01]\.[0-9][0-9]"
T send-keys -t w Escape
check_soon "... closed by a key" overlay_closed
T send-keys -t w q
wait_for 300 '[ -f exit2.status ]'
check "a finished search quits without asking" [ "$(cat exit2.status 2>/dev/null)" = 0 ]

# --- x: the selected running trial stopped early ---
# the search's own hook holds trial 2 at its first epoch's end while a file
# "hold" exists; the screen is still then, and the keys sent wait for it
small_search early 2 3 6 >early.lua
hold_hook 2 >>early.lua
: >hold
T new-session -d -s w4 -x 120 -y 40 "$CELLAR early.lua --db x.db; echo \$? >exit4.status; sleep 600"
T kill-session -t w
T rename-session -t w4 w
wait_for 3000 '[ -f x.db ] && [ "$(sql x.db "select count(*) from metrics where trial=2")" = 1 ]'
T send-keys -t w End x
sleep 0.3
rm -f hold
wait_for 3000 'screen | grep -q "| finished |"'
check "x on the running trial (End selects it): stopped after its first epoch" [ "$(sql x.db "select reason from trials where id=2")" = "stopped after epoch 1 of 2: stopped from the screen" ]
check "... the others trained both epochs" [ "$(sql x.db "select group_concat(id) from trials where reason is null")" = "1,3" ]
check "... the log says so" on_screen "trial 2: reward 0\.[0-9]* (stopped after epoch 1 of 2"
check "... the leaderboard shows it as stopped" on_screen " 2  \+0\.[0-9]\{4\} \+0\.[0-9]\{4\} .* stopped "
T send-keys -t w Home x
check_soon "x on a finished trial: it says what x is for" on_screen "x stops a running trial early"
T send-keys -t w q
wait_for 300 '[ -f exit4.status ]'

# --- a recipe changed mid-run: the leaderboard ranks the newest recipe's
# trials, as show does ---
# (3 epochs, then 1: the older trials' rewards tend to be the higher)
small_search recipe 3 4 5 >recipe.lua
echo 'cellar.on("trial_end", function(t) if t.trial == 2 then cellar.set("child.epochs", 1) end end)' >>recipe.lua
$CELLAR run recipe.lua --db rc.db >/dev/null 2>&1
best=$(sql rc.db "select id from trials where id > 2 order by reward desc, id limit 1")
$CELLAR train rc.db --epochs 1 --train-limit 64 --test-limit 64 --threads 1 >rct.out 2>&1
tacc=$($PY -c "import json,sys; print('%.2f%%' % (100 * json.loads(open('rct.out').read().splitlines()[-1])['test_acc']))")
T new-session -d -s w5 -x 160 -y 40 "$CELLAR rc.db; sleep 600"
T kill-session -t w
T rename-session -t w5 w
check_soon "a journal whose recipe changed after trial 2: the title counts the trials not ranked" on_screen "leaderboard: 4 trials, by reward down, 2 unranked (older recipe)"
screen >rc.txt
check "... trials 1 and 2 have no rank, 3 and 4 ranks 1 and 2" sh -c "grep -Eq '^.* +- +1 +0\.[0-9]{4} ' rc.txt && grep -Eq '^.* +- +2 +0\.[0-9]{4} ' rc.txt && grep -Eq '^.* +1 +$best +0\.[0-9]{4} ' rc.txt && [ \$(grep -Ec '^.* +[12] +[34] +0\.[0-9]{4} ' rc.txt) -eq 2 ]"
check "... the status line's best is show's (trial $best)" grep -q "| best 0\.[0-9]* (#$best) |" rc.txt
order=$(grep -Eo ' +(-|[12]) +[1-4] +0\.[0-9]{4} ' rc.txt | awk '{printf "%s ", $2}')
want=$(sql rc.db "select group_concat(id, ' ') || ' ' from (select id from trials order by id > 2 desc, reward desc, id)")
check "... by reward, the older recipe's trials after the newest's (rows: $order; want $want)" [ "$order" = "$want" ]
# each block as its ops' two-character names and + or ||, normal / reduction
brief=$(sql rc.db "select genotype from trials where id = $best" | $PY -c "
import re, sys
code = {'identity': 'id', 'avg_pool_3x3': 'a3', 'sep_conv_3x3': 's3', 'max_pool_3x3': 'm3'}
cells = sys.stdin.read().strip().split(' ; ')
print(' / '.join(' '.join(''.join(code[o] for o in re.findall(r'([a-z_0-9]+)\(\d+\)', b)) + ('+' if b.strip().endswith('add') else '||')
                          for b in c.split(': ', 1)[1].split(' | ')) for c in cells))")
check "... a wide leaderboard shows each trial's cells in brief ($brief)" grep -Eq " +1 +$best +0\.[0-9]{4} .* done +$brief" rc.txt
T send-keys -t w Home Enter
check_soon "... Enter on the first row: trial $best, the best" on_screen "trial $best: done, rank 1 of 2 (the best)"
check "... with its training again (cellar train rc.db, before the screen opened)" on_screen "trained again (training 1): fashion-mnist, 64 images, N=1 F=8, 1 epoch of batch 32, lr 0.05, cpu backend:"
check "... its test accuracy on the next row ($tacc)" on_screen " test accuracy $tacc (64 images), [0-9.]* s"
T send-keys -t w Escape End Enter
check_soon "... Enter on the last row: an earlier recipe's trial, not ranked" on_screen "trial [12]: done, not ranked (an earlier recipe)"
T send-keys -t w Escape
T send-keys -t w q

# --- watching a search another process runs ---
# a headless run of its own, held in trial 4 (after its first of two
# epochs) while a file named "hold" exists; the workbench opened on its
# journal follows it
small_search watched 2 5 5 >watch.lua
hold_hook 4 >>watch.lua
: >hold
$CELLAR run watch.lua --db w.db >wrun.out 2>wrun.err &
wpid=$!
# (sql only once cellar has made the journal: sqlite3.connect would make an empty one)
wait_for 3000 '[ -f w.db ] && [ "$(sql w.db "select count(*) from trials where state=\"running\" and id=4")" = 1 ]'
T new-session -d -s w3 -x 160 -y 40 "$CELLAR w.db; echo \$? >exit3.status; sleep 600"
T kill-session -t w
T rename-session -t w3 w
watch_board() { screen >ws.txt; grep -q '^ watched | ppo | running | 3/5 trials' ws.txt && grep -E -q ' +4 +- .*running' ws.txt; }
watch_ended() { screen >we.txt; grep -q 'trial 5: reward' we.txt && grep -q 'has ended' we.txt && grep -q '^ watched | ppo | finished | 5/5 trials' we.txt; }
check_soon "cellar DB while another process runs its search: the screen watches it, naming the process" on_screen "watching cellar process $wpid"
check_soon "... its trials on the leaderboard (3 done, trial 4 running), its state on the status line" watch_board
check "... the controller's update charted (entropy in the chart's title)" on_screen "policy entropy: [0-9]"
check_soon "... the running trial's epoch under way, from the epochs the journal has" on_screen "watching cellar process $wpid: trial 4, epoch 2/2 *\$"
T resize-window -t w -x 120
check_soon "... at 120 columns, the process only (the line has no room for both)" on_screen "watching cellar process $wpid *\$"
T resize-window -t w -x 160
T send-keys -t w End Enter
check_soon "... Enter on the running trial: its first epoch, from the journal, no validation yet" on_screen " 1  \+[0-9.]\+  \+[0-9.]\+%  \+-  "
check "... titled as running" on_screen "trial 4: running .*any key closes this"
T send-keys -t w Escape
check_soon "... closed again" overlay_closed
T send-keys -t w p
check_soon "... p there: refused, saying where the search is steered" on_screen "steer it there"
check "... and the search is not paused" [ -z "$(sql w.db "select name from commands where name='pause'")" ]
T send-keys -t w :
sleep 0.3
T send-keys -t w -l '#cellar.trials() .. " trials, the last " .. cellar.trials()[4].state'
T send-keys -t w Enter
check_soon "... its console's cellar.trials reads the watched journal" on_screen "= 4 trials, the last running"
T send-keys -t w -l 'cellar.pause()'
T send-keys -t w Enter
check_soon "... cellar.pause there says the search runs elsewhere" on_screen "no search runs here: this screen watches"
T send-keys -t w Escape
rm -f hold
wait $wpid; rc=$?
check "the watched search finishes in its own process (exit $rc)" [ $rc -eq 0 ]
check_soon "... the screen shows its last trial and that it ended" watch_ended
T send-keys -t w q
wait_for 300 '[ -f exit3.status ]'
check "q leaves the watching screen at once (exit 0)" [ "$(cat exit3.status 2>/dev/null)" = 0 ]
