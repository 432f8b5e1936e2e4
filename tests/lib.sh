# lib.sh - what every tests/*.test.sh uses, sourced from beside it:
#   check "description" command...   prints "ok - description" when the
#                                    command succeeds, else "not ok - ..."
#   jget FILE KEY                    the value of KEY in FILE's last JSON line
#   sql DB QUERY                     the rows of a query, fields joined by |
PY=/usr/bin/python3; [ -x $PY ] || PY=python3

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
jget() { $PY -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }
sql() { $PY -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join(map(str,r)) for r in c.execute(sys.argv[2])))" "$@"; }
