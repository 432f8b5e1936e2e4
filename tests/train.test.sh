#!/bin/sh
# train.test.sh - the cells a search found trained again as a user does it
# (`cellar train DB`): recorded in the journal as they go, listed by show
# and export; killed with SIGKILL and stopped by Ctrl-C, in training and as
# the test images are evaluated, then gone on with by `cellar train DB
# --resume`, which must end as a training never stopped (the same losses
# each epoch, the same test accuracy); a journal of an earlier cellar that
# its reader may not write; and the refusals.  Its journal is the search
# search.test.sh runs first, run here again (the same seed, the same trials).
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

cd "$tmp" || exit 1
$CELLAR run tiny.lua --db whole.db >run.out 2>run.err; rc=$?
check "the search of 7 trials to train from finishes (exit 0)" sh -c "[ $rc -eq 0 ] && [ \"\$(grep -c '^trial [0-9]*/7: reward' run.err)\" = 7 ]"
best=$(best_reward whole.db)
bestid=$(sql whole.db "select id from trials where state='done' order by reward desc, id limit 1")
sql whole.db "select genotype from trials where id=$bestid" >bestg.txt
$CELLAR train whole.db --epochs 1 --train-limit 64 --test-limit 64 --batch 32 --threads 1 >tb.out 2>tb.err; rc=$?
check "train DB: the best trial's cell trained, named on stderr" sh -c "[ $rc -eq 0 ] && grep -q '^training trial $bestid of whole.db (rank 1 of 7, reward $best)' tb.err"
check "... its genotype, journal and trial in the JSON line" $PY -c "
import json; d=json.loads(open('tb.out').read().splitlines()[-1])
assert d['trial']==$bestid and d['journal']=='whole.db' and d['genotype']==open('bestg.txt').read().strip() and d['N']==1, d"
$CELLAR train whole.db --trial 2 --epochs 1 --train-limit 64 --test-limit 64 --threads 1 >t2.out 2>t2.err; rc=$?
check "train DB --trial 2: that trial's genotype, recorded in the journal as training 2" sh -c "[ $rc -eq 0 ] && tail -1 t2.out | grep -q '\"trial\":2,\"training\":2}' && grep -q '^training trial 2 of whole.db' t2.err && grep -q '^recorded in whole.db as training 2 of trial 2$' t2.err"
# the trainings, as show lists them
acc1=$($PY -c "import json; print('%.2f%%' % (100 * json.loads(open('tb.out').read().splitlines()[-1])['test_acc']))")
$CELLAR show whole.db >tr.out 2>&1
check "show DB: the trainings listed below the leaderboard (trial $bestid's at $acc1, then trial 2's)" sh -c "grep -q \"^trained again ('cellar show whole.db --trial ID' has a trial's):\" tr.out && grep -Eq '^  1 +$bestid  fashion-mnist +1 +8 +1 +64 +$acc1 +[0-9.]+  done$' tr.out && grep -Eq '^  2 +2  fashion-mnist +1 +8 +1 +64 .* done$' tr.out"
$CELLAR show whole.db --trial 2 >tr2.out 2>&1
check "show DB --trial 2: its training again, with its settings, result and epoch" sh -c "grep -Eq '^trained again \(training 2\): fashion-mnist, 64 images, N=1 F=8, 1 epoch of batch 32, lr 0.05, cpu backend: test accuracy [0-9.]+% \(64 images\), [0-9.]+ s$' tr2.out && [ \$(grep -c '^    1 ' tr2.out) = 2 ]"
$CELLAR show whole.db --json >tr.json
check "show DB --json: the trainings, with their settings, epochs and test accuracy as train printed it" $PY -c "
import json; d=json.load(open('tr.json'))['trainings']; t=json.loads(open('tb.out').read().splitlines()[-1])
assert [x['trial'] for x in d] == [$bestid, 2] and all(x['state'] == 'done' and len(x['epochs']) == 1 for x in d), d
assert abs(d[0]['test_acc'] - t['test_acc']) < 6e-5 and d[0]['settings']['train_images'] == 64 and d[0]['genotype'] == t['genotype'], d[0]"
# killed (SIGKILL) and interrupted (Ctrl-C) after their first epoch of
# three (an epoch of about a second; under the sanitizers of fewer images)
kimg=512
[ -n "$CELLAR_TEST_SHORT" ] && kimg=256
ksteps=$((kimg / 32 * 3))
for how in KILL INT; do
  $CELLAR train whole.db --trial 3 --epochs 3 --train-limit $kimg --test-limit 64 --threads 1 >k.out 2>k.err &
  tpid=$!
  n=""
  for i in $(seq 1 3000); do
    n=$(sql whole.db "select count(*) from training_epochs e join trainings t on t.id = e.training where t.pid = $tpid" 2>/dev/null)
    [ "$n" = 1 ] && break
    sleep 0.1
  done
  kill -$how $tpid; wait $tpid; trc=$?
  $CELLAR show whole.db >k.show 2>&1
  if [ $how = KILL ]; then
    check "train DB killed with SIGKILL after its first epoch: show says so, the process named" grep -Eq "^  3 +3  fashion-mnist +1 +8 +3 +$kimg +- +-  interrupted after [12] of 3 epochs \(cellar process $tpid is gone\); resumable from epoch [12]$" k.show
  else
    check "train DB stopped by Ctrl-C: exit 130, said, and recorded as failed with the step it stopped at" sh -c "[ $trc = 130 ] && grep -Eq '^cellar train: interrupted \(Ctrl-C\) at step [0-9]+ of $ksteps, epoch [23] of 3$' k.err && grep -Eq '^  4 +3  .* failed: interrupted \(Ctrl-C\) at step [0-9]+ of $ksteps, epoch [23] of 3; resumable from epoch [12]$' k.show"
    check "... the way on said: 'cellar train whole.db --resume 4', from its checkpoint" grep -Eq "^cellar train: 'cellar train whole.db --resume 4' goes on from the checkpoint after epoch [12]$" k.err
    check "... and show says how to go on with a stopped one" grep -q "^('cellar train whole.db --resume #' goes on with a stopped one from its checkpoint)$" k.show
  fi
done
# a journal of an earlier cellar (version 1, before trainings) that its
# reader may not write: shown as it is, nothing migrated, train says why it
# records nothing (as another user: root writes any file)
chmod 755 .
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null && runuser -u nobody -- $CELLAR --version >/dev/null 2>&1; then
  mkdir -m 1777 ro && cp whole.db ro/v1.db && chmod 644 ro/v1.db
  $PY -c "import sqlite3; c=sqlite3.connect('ro/v1.db'); c.executescript('DROP TABLE training_checkpoints; DROP TABLE training_epochs; DROP TABLE trainings; PRAGMA user_version = 1;'); c.close()"
  runuser -u nobody -- $CELLAR show ro/v1.db >ro.out 2>&1; rc=$?
  runuser -u nobody -- $CELLAR export ro/v1.db --trainings >ro.csv 2>&1; rc2=$?
  runuser -u nobody -- $CELLAR train ro/v1.db --epochs 1 --train-limit 64 --test-limit 64 --threads 1 >ro-t.out 2>ro-t.err; rc3=$?
  check "a version-1 journal another user owns: show reads it (the leaderboard, no trainings), export --trainings has none" sh -c "[ $rc:$rc2 = 0:0 ] && grep -q '^rank  trial' ro.out && ! grep -q 'trained again' ro.out && [ \$(wc -l <ro.csv) = 1 ]"
  check "... train trains, saying it cannot record there" sh -c "[ $rc3 = 0 ] && grep -q 'cellar train: not recorded in ro/v1.db (ro/v1.db: a journal of an earlier cellar (version 1) that this process may only read, so it cannot take trainings); training anyway' ro-t.err"
  check "... and the file is left at version 1" [ "$(sql ro/v1.db "pragma user_version")" = 1 ]
  # this cellar's journal in a directory its reader may not write, where
  # SQLite cannot make the -shm file a reader needs: read as the file
  # stands, writing refused with the reason
  mkdir ro2 && cp whole.db ro2/j.db && chmod 644 ro2/j.db && chmod 555 ro2
  runuser -u nobody -- $CELLAR show ro2/j.db >ro2.out 2>&1; rc=$?
  runuser -u nobody -- $CELLAR show ro2/j.db --trial best >ro2b.out 2>&1; rc2=$?
  runuser -u nobody -- $CELLAR resume ro2/j.db --set budget=9 >ro2r.out 2>&1; rc3=$?
  check "a journal in a directory its reader may not write: show reads it (the leaderboard, the trainings, the best trial)" sh -c "[ $rc:$rc2 = 0:0 ] && grep -q '^rank  trial' ro2.out && grep -q 'trained again' ro2.out && grep -q '^trial $bestid of tiny' ro2b.out"
  check "... resume refused, the reason said ($(head -1 ro2r.out))" sh -c "[ $rc3 = 1 ] && grep -q '^cellar resume: ro2/j.db: this user may not write the journal (Permission denied)$' ro2r.out"
  check "... nothing made beside it" [ "$(ls ro2)" = j.db ]
  chmod 755 ro2
else
  echo "# not root, no runuser, or cellar out of another user's reach: the read-only journal is not tried"
fi
$CELLAR export whole.db --trainings >tr.csv; rc=$?
check "export DB --trainings: a CSV row per training, as the journal has them" $PY -c "
import csv, json, sqlite3
rows = list(csv.DictReader(open('tr.csv'))); c = sqlite3.connect('whole.db')
db = c.execute('select id, trial, state, test_acc, settings, genotype, reason from trainings order by id').fetchall()
assert $rc == 0 and len(rows) == len(db) == 4, (rows, db)
for r, (i, t, st, acc, js, g, why) in zip(rows, db):
    js = json.loads(js)
    assert (int(r['training']), int(r['trial']), r['state'], r['genotype'], r['reason'] or None) == (i, t, st, g, why), (r, i)
    assert (r['test_acc'] == '') == (acc is None) and (acc is None or abs(float(r['test_acc']) - acc) < 1e-9), (r, acc)
    assert (int(r['epochs']), int(r['train_images']), r['dataset'], r['backend']) == (js['epochs'], js['train_images'], js['dataset'], js['backend']), r
assert [r['state'] for r in rows] == ['done', 'done', 'running', 'failed'], rows"
# the killed and the interrupted trainings go on from their checkpoints
# and end as one never stopped: the same epochs' losses, the same accuracy
$CELLAR train whole.db --trial 3 --epochs 3 --train-limit $kimg --test-limit 64 --threads 1 >st.out 2>st.err
cp whole.db ck.db
$PY -c "import sqlite3; c=sqlite3.connect('ck.db'); c.execute('update training_checkpoints set blob = substr(blob, 1, 200) || x\'00ff00ff\' || substr(blob, 205)'); c.commit()"
$CELLAR train ck.db --resume 4 >e.out 2>&1; rc=$?
ckst=$(sql ck.db 'select state from trainings where id = 4')
check "train --resume of a damaged checkpoint: refused, the training left as it was (exit 1)" sh -c "[ $rc = 1 ] && grep -q 'cellar train: training 4 of ck.db: trainer checkpoint: damaged (its checksum does not match)' e.out && [ $ckst = failed ]"
for t in 3 4; do
  $CELLAR train whole.db --resume $t --threads 1 >r$t.out 2>r$t.err; rc=$?
  check "train --resume $t: from its checkpoint, said" sh -c "[ $rc = 0 ] && grep -Eq '^resuming training $t of trial 3 in whole.db from its checkpoint after epoch [12] of 3$' r$t.err"
  check "... it ends as the training never stopped: the same test accuracy, the same loss each epoch" $PY -c "
import json, sqlite3
a = json.loads(open('st.out').read().splitlines()[-1]); b = json.loads(open('r$t.out').read().splitlines()[-1])
assert a['test_acc'] == b['test_acc'] and a['test_loss'] == b['test_loss'], (a, b)
assert b['training'] == $t and b['resumed_from_epoch'] in (1, 2) and a['genotype'] == b['genotype'], b
c = sqlite3.connect('whole.db'); q = 'select epoch, train_loss, train_acc from training_epochs where training = ? order by epoch'
ea, eb = c.execute(q, (a['training'],)).fetchall(), c.execute(q, ($t,)).fetchall()
assert len(ea) == 3 and ea == eb, (ea, eb)
st, acc, n = c.execute('select state, test_acc, (select count(*) from training_checkpoints where training = ?) from trainings where id = ?', ($t, $t)).fetchone()
assert st == 'done' and abs(acc - b['test_acc']) < 6e-5 and n == 0, (st, acc, n)"
done
$CELLAR train whole.db --resume 3 >e.out 2>&1; rc=$?
check "train --resume of a done training: nothing to resume (exit 1)" sh -c "[ $rc = 1 ] && grep -Eq '^cellar train: training 3 of whole.db is done \(test accuracy [0-9.]+%\): there is nothing to resume$' e.out"
$CELLAR train whole.db --resume 9 >e.out 2>&1; rc=$?
check "... of a training that is not there: the journal's trainings pointed at (exit 1)" sh -c "[ $rc = 1 ] && grep -q \"whole.db has no training 9 ('cellar show whole.db' lists its trainings)\" e.out"
$CELLAR train whole.db --resume 4 --epochs 5 >e.out 2>&1; rc=$?
check "... with a setting of its own: refused, the recorded ones stand (exit 2)" sh -c "[ $rc = 2 ] && grep -q 'the settings the training was recorded with: --epochs cannot be given with it' e.out"
$PY -c "import sqlite3; c=sqlite3.connect('ck.db'); c.execute(\"update trainings set state = 'failed', reason = 'made to fail' where id = 2\"); c.commit()"
$CELLAR train ck.db --resume 2 >e.out 2>&1; rc=$?
check "... of one stopped before any checkpoint: train its trial again, said (exit 1)" sh -c "[ $rc = 1 ] && grep -q \"training 2 of ck.db has no checkpoint to go on from (failed: made to fail; one is taken as each epoch ends): train it again with 'cellar train ck.db --trial 2'\" e.out"
# Ctrl-C as the test images are evaluated: with the trained network in
# the journal (its checkpoint after the last epoch) they stop at once, and
# --resume only evaluates it; without a journal they finish, as it says
# (3000 images: seconds of evaluation, the signal lands in them; under the
# sanitizers 1000 take as long)
evimg=3000
[ -n "$CELLAR_TEST_SHORT" ] && evimg=1000
$CELLAR train whole.db --trial 2 --epochs 1 --train-limit 64 --test-limit $evimg --threads 1 >ev.out 2>ev.err &
tpid=$!
for i in $(seq 1 3000); do
  n=$(sql whole.db "select count(*) from training_checkpoints c join trainings t on t.id = c.training where t.pid = $tpid" 2>/dev/null)
  [ "$n" = 1 ] && break
  sleep 0.1
done
kill -INT $tpid; wait $tpid; trc=$?
ev=$(sql whole.db "select max(id) from trainings")
check "Ctrl-C as the test images are evaluated: they stop (exit 130), the way on said" sh -c "[ $trc = 130 ] && grep -Eq '^cellar train: interrupted \(Ctrl-C\) as the test images were evaluated: stopped after [0-9]+ of $evimg images$' ev.err && grep -q \"^cellar train: 'cellar train whole.db --resume $ev' goes on from the checkpoint after epoch 1$\" ev.err"
$CELLAR train whole.db --resume $ev --threads 1 >evr.out 2>evr.err; rc=$?
check "... --resume evaluates it, training nothing more: its accuracy recorded, done" $PY -c "
import json, sqlite3
r = json.loads(open('evr.out').read().splitlines()[-1]); err = open('evr.err').read()
assert $rc == 0 and r['resumed_from_epoch'] == 1 and r['training'] == $ev and r['test_images'] == $evimg, r
assert 'after epoch 1 of 1' in err and 'epoch 1/1' not in err and 'step ' not in err, err
st, acc = sqlite3.connect('whole.db').execute('select state, test_acc from trainings where id = $ev').fetchone()
assert st == 'done' and abs(acc - r['test_acc']) < 6e-5, (st, acc)"
$CELLAR train --genotype enas --epochs 1 --train-limit 64 --test-limit $evimg --threads 1 >ev2.out 2>ev2.err &
tpid=$!
for i in $(seq 1 3000); do
  grep -q '^epoch 1/1' ev2.err && break
  sleep 0.1
done
kill -INT $tpid; wait $tpid; trc=$?
check "... without a journal the evaluation finishes, as said, its result whole (exit 130)" sh -c "[ $trc = 130 ] && grep -Eq '^cellar train: Ctrl-C: the evaluation finishes first \([0-9]+ of $evimg test images done\): the trained network is kept nowhere else$' ev2.err && grep -q '\"test_images\":$evimg' ev2.out && grep -q 'the result above is whole' ev2.err"
cp whole.db failed.db
$PY -c "import sqlite3; c=sqlite3.connect('failed.db'); c.execute(\"update trials set state='failed', reward=null, reason='made to fail'\"); c.commit()"
$CELLAR train failed.db >e.out 2>&1; rc=$?
check "train DB where every trial failed: nothing to take, the counts said (exit 1)" sh -c "[ $rc -eq 1 ] && grep -q 'failed.db: no trial on its leaderboard yet (0 done, 0 running, 7 failed, 0 pending)' e.out"
$CELLAR train whole.db --genotype nasnet-a >e.out 2>&1; rc=$?
check "train DB --genotype G: one or the other (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'not both' e.out"

