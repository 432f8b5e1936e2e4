/* store.c - the journal: creating and opening the SQLite file (refusing
 * what is not a healthy cellar journal), the schema and its migrations,
 * and the reads and writes of every record type.  See store.h.
 *
 * Durability: the file runs in WAL mode with synchronous=NORMAL, and every
 * call outside store_begin/store_commit is its own transaction, committed
 * before the call returns.  A killed process therefore loses nothing that
 * a returned call wrote; a power cut may lose the last few commits (never
 * the file), which is SQLite's documented trade for NORMAL. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/util.h"
#include "store/sql.h"

/* How long a call waits for another process's lock before failing.  Only
 * one process writes; readers (`cellar show`) never block it under WAL, so
 * this covers checkpoints and a second writer started by mistake. */
#define STORE_BUSY_MS 5000

/* Statements used on every trial and epoch, prepared once per handle. */
enum {
    Q_TRIAL_INSERT,
    Q_TRIAL_UPDATE,
    Q_TRIAL_GET,
    Q_TRIAL_FIND,
    Q_METRIC_INSERT,
    Q_METRIC_REPLACE,
    Q_COUNT
};

struct cl_store {
    sql_db db;
    sql_stmt cache[Q_COUNT];
    int lock_fd;    /* store_claim's descriptor, -1 until then; closed after SQLite's */
    int claimed;
    int version;    /* the schema it holds: STORE_SCHEMA_VERSION but in an older
                     * journal this process may only read (see store_open) */
};

/* ---- schema and migrations ---- */

/* Version 0 -> 1: the schema from an empty database. */
static const char SCHEMA_V1[] =
    "CREATE TABLE experiment (\n"
    "    id INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "    name TEXT,\n"
    "    source_path TEXT,\n"
    "    source TEXT,\n"
    "    settings TEXT,\n"
    "    seed INTEGER NOT NULL DEFAULT 0,\n"
    "    created REAL\n"
    ");\n"
    "CREATE TABLE trials (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    genotype TEXT NOT NULL,\n"
    "    hash TEXT NOT NULL,\n"
    "    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),\n"
    "    reward REAL,\n"
    "    accuracy REAL,\n"
    "    params INTEGER NOT NULL DEFAULT 0,\n"
    "    flops REAL,\n"
    "    seconds REAL,\n"
    "    worker INTEGER NOT NULL DEFAULT 0,\n"
    "    recipe TEXT,\n"
    "    hash_recipe TEXT NOT NULL DEFAULT '',\n"
    "    actions TEXT,\n"
    "    logp REAL,\n"
    "    reason TEXT,\n"
    "    reused_from INTEGER REFERENCES trials(id),\n"
    "    created REAL,\n"
    "    started REAL,\n"
    "    finished REAL\n"
    ");\n"
    "CREATE INDEX trials_hash ON trials(hash, hash_recipe);\n"
    "CREATE TABLE metrics (\n"
    "    trial INTEGER NOT NULL REFERENCES trials(id),\n"
    "    epoch INTEGER NOT NULL,\n"
    "    train_loss REAL,\n"
    "    train_acc REAL,\n"
    "    val_acc REAL,\n"
    "    lr REAL,\n"
    "    seconds REAL,\n"
    "    PRIMARY KEY (trial, epoch)\n"
    ");\n"
    "CREATE TABLE controller_steps (\n"
    "    step INTEGER PRIMARY KEY,\n"
    "    entropy REAL,\n"
    "    reward_ema REAL,\n"
    "    loss REAL,\n"
    "    lr REAL,\n"
    "    trials TEXT,\n"
    "    decisions TEXT,\n"
    "    time REAL\n"
    ");\n"
    "CREATE TABLE commands (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    time REAL NOT NULL,\n"
    "    source TEXT NOT NULL,\n"
    "    name TEXT NOT NULL,\n"
    "    old_value TEXT,\n"
    "    new_value TEXT\n"
    ");\n"
    "CREATE TABLE device_seconds (\n"
    "    phase TEXT PRIMARY KEY,\n"
    "    seconds REAL NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE checkpoints (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    trials_done INTEGER NOT NULL,\n"
    "    time REAL NOT NULL,\n"
    "    blob BLOB NOT NULL\n"
    ");\n";

/* Version 1 -> 2: genotypes of the journal trained again, larger and
 * longer (`cellar train DB`), with their epochs. */
static const char SCHEMA_V2[] =
    "CREATE TABLE trainings (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    trial INTEGER,\n"
    "    genotype TEXT NOT NULL,\n"
    "    hash TEXT NOT NULL,\n"
    "    settings TEXT NOT NULL,\n"
    "    state TEXT NOT NULL,\n"
    "    test_acc REAL,\n"
    "    val_acc REAL,\n"
    "    params INTEGER,\n"
    "    flops REAL,\n"
    "    seconds REAL,\n"
    "    pid INTEGER,\n"
    "    reason TEXT,\n"
    "    started REAL NOT NULL,\n"
    "    finished REAL\n"
    ");\n"
    "CREATE TABLE training_epochs (\n"
    "    training INTEGER NOT NULL REFERENCES trainings(id),\n"
    "    epoch INTEGER NOT NULL,\n"
    "    train_loss REAL,\n"
    "    train_acc REAL,\n"
    "    val_acc REAL,\n"
    "    lr REAL,\n"
    "    seconds REAL,\n"
    "    PRIMARY KEY (training, epoch)\n"
    ");\n";

/* Version 2 -> 3: a training's checkpoint after its last finished epoch
 * (the trainer's state as bytes), so that a training stopped or killed
 * goes on from there; one per training, gone when it is done. */
static const char SCHEMA_V3[] =
    "CREATE TABLE training_checkpoints (\n"
    "    training INTEGER PRIMARY KEY REFERENCES trainings(id),\n"
    "    epoch INTEGER NOT NULL,\n"
    "    saved REAL NOT NULL,\n"
    "    blob BLOB NOT NULL\n"
    ");\n";

/* migrations[k] takes a journal from version k to k+1, as an SQL script
 * or, where data must be transformed, a function (either may be NULL).
 * Adding version 4 is one entry here and STORE_SCHEMA_VERSION = 4. */
static const struct migration {
    const char *sql;
    int (*fn)(cl_store *st, cl_err *err);
} migrations[] = {
    {SCHEMA_V1, NULL},
    {SCHEMA_V2, NULL},
    {SCHEMA_V3, NULL},
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* Bring the journal to STORE_SCHEMA_VERSION in one transaction; with
 * stamp set, also write cellar's application_id (store_create).  An older
 * journal this process may not write stays as it is (st->version). */
static int migrate(cl_store *st, int stamp, cl_err *err)
{
    char pragma[64];
    int64_t version;
    int rc = sql_query_int64(&st->db, "PRAGMA user_version", &version, err);
    if (rc)
        return rc;
    if (version == STORE_SCHEMA_VERSION && !stamp)
        return CL_OK;
    if (!stamp && version >= 1 && version < STORE_SCHEMA_VERSION &&
        sqlite3_db_readonly(st->db.db, "main") == 1) {
        /* an older journal this process may only read (its file not
         * writable here): read it as it is; what its version lacks reads
         * as empty, and writing it is refused */
        st->version = (int)version;
        return CL_OK;
    }
    rc = sql_begin(&st->db, err);
    if (rc)
        return rc;
    /* read again under the write lock: another process may have migrated
     * the file between our first look and now */
    rc = sql_query_int64(&st->db, "PRAGMA user_version", &version, err);
    if (rc == CL_OK && version > STORE_SCHEMA_VERSION)
        rc = ERR_SET(err, CL_ERR_FORMAT,
                     "%s: written by a newer cellar (schema version %lld, this cellar reads up "
                     "to %d)",
                     st->db.path, (long long)version, STORE_SCHEMA_VERSION);
    if (rc == CL_OK && stamp) {
        snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", STORE_APPLICATION_ID);
        rc = sql_exec(&st->db, pragma, err);
    }
    for (int64_t v = version; rc == CL_OK && v < STORE_SCHEMA_VERSION; v++) {
        const struct migration *m = &migrations[v];
        if (m->sql)
            rc = sql_exec(&st->db, m->sql, err);
        if (rc == CL_OK && m->fn)
            rc = m->fn(st, err);
        if (rc)
            err_prefix(err, "%s: migrating the journal from version %lld to %lld", st->db.path,
                       (long long)v, (long long)v + 1);
    }
    if (rc == CL_OK && version < STORE_SCHEMA_VERSION) {
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
        rc = sql_exec(&st->db, pragma, err);
    }
    if (rc) {
        sql_rollback(&st->db);
        return rc;
    }
    return sql_commit(&st->db, err);
}

/* ---- opening and closing ---- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A time the caller left unset (NaN, or 0 from a zeroed struct). */
static int time_unset(double t)
{
    return !(t > 0);
}

static int handle_alloc(const char *path, cl_store **out, cl_err *err)
{
    cl_store *st = calloc(1, sizeof *st);
    if (!st)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", path);
    st->lock_fd = -1;
    st->version = STORE_SCHEMA_VERSION;
    st->db.path = strdup(path);
    if (!st->db.path) {
        free(st);
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = st;
    return CL_OK;
}

/* "file:PATH?immutable=1", PATH escaped as a URI's path (malloc'ed; NULL
 * when out of memory) */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *u = malloc(3 * n + 32), *o = u;
    if (!u)
        return NULL;
    o += sprintf(o, "file:");
    while (path[0] == '/' && path[1] == '/')   /* "file://" would name a host */
        path++;
    for (; *path; path++) {
        if (*path == '%' || *path == '?' || *path == '#')
            o += sprintf(o, "%%%02X", (unsigned char)*path);
        else
            *o++ = *path;
    }
    strcpy(o, "?immutable=1");
    return u;
}

/* Open the SQLite connection of st (the file must exist); with immutable,
 * read-only, as a file nobody changes: nothing written beside it (no -shm
 * or -wal), no locks taken. */
static int db_connect(cl_store *st, int immutable, cl_err *err)
{
    char *uri = immutable ? immutable_uri(st->db.path) : NULL;
    int rc;
    if (immutable && !uri)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", st->db.path);
    rc = immutable ? sqlite3_open_v2(uri, &st->db.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL)
                   : sqlite3_open_v2(st->db.path, &st->db.db, SQLITE_OPEN_READWRITE, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        return ERR_SET(err, rc == SQLITE_NOMEM ? CL_ERR_NOMEM : CL_ERR_IO, "%s: cannot open: %s",
                       st->db.path, st->db.db ? sqlite3_errmsg(st->db.db) : sqlite3_errstr(rc));
    }
    sqlite3_busy_timeout(st->db.db, STORE_BUSY_MS);
    return CL_OK;
}

/* The settings of every connection.  journal_mode is stored in the file
 * (so create's choice persists) but asking again costs nothing and
 * catches a file system where WAL cannot work. */
static int db_configure(cl_store *st, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q, "PRAGMA journal_mode = WAL", err);
    if (rc)
        return rc;
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK) {
        const char *mode = row ? sql_col_text(&q, 0) : NULL;
        if (!mode || strcmp(mode, "wal") != 0)
            rc = ERR_SET(err, CL_ERR_IO, "%s: cannot use WAL mode here (journal_mode is %s)",
                         st->db.path, mode ? mode : "unknown");
    }
    sql_finalize(&q);
    if (rc == CL_OK)
        rc = sql_exec(&st->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err);
    return rc;
}

void store_close(cl_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sql_finalize(&st->cache[i]);
    if (st->db.db) {
        st->db.depth = 1;   /* an open transaction is abandoned, not committed */
        sql_rollback(&st->db);
        sqlite3_close(st->db.db);
    }
    /* only now: closing any descriptor of the file drops the process's
     * POSIX locks on it, SQLite's included */
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st->db.path);
    free(st);
}

/* ---- one search per journal ---- */

/* The process holding an flock on the file (dev, ino), from /proc/locks
 * (Linux), other than ourselves; 0 where none is listed, -1 where the
 * list cannot be read. */
static long lock_holder(dev_t dev, ino_t ino)
{
    char line[256], type[16];
    FILE *f = fopen("/proc/locks", "r");
    long pid, found = 0;
    unsigned maj, mnr;
    unsigned long long in;
    if (!f)
        return -1;
    while (!found && fgets(line, sizeof line, f))
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", type, &pid, &maj, &mnr, &in) == 5 &&
            !strcmp(type, "FLOCK") && maj == major(dev) && mnr == minor(dev) &&
            in == (unsigned long long)ino && pid != (long)getpid())
            found = pid;
    fclose(f);
    return found;
}

/* Try for the exclusive lock on fd, the descriptor of path: CL_OK with
 * it held, else why not */
static int lock_journal(int fd, const char *path, cl_err *err)
{
    struct stat sb;
    char who[48] = "another cellar";
    long pid;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return CL_OK;
    if (errno != EWOULDBLOCK)
        return ERR_SET(err, CL_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    pid = fstat(fd, &sb) == 0 ? lock_holder(sb.st_dev, sb.st_ino) : 0;
    if (pid > 0)
        snprintf(who, sizeof who, "cellar process %ld", pid);
    return ERR_SET(err, CL_ERR_IO, "%s: in use: a search is running on it (%s); let it finish "
                   "or stop it first ('cellar show %s' reads it meanwhile)", path, who, path);
}

int store_claim(cl_store *st, cl_err *err)
{
    int rc;
    if (st->claimed)
        return CL_OK;
    if (st->lock_fd < 0 && (st->lock_fd = open(st->db.path, O_RDONLY | O_CLOEXEC)) < 0)
        return ERR_SET(err, CL_ERR_IO, "%s: cannot open: %s", st->db.path, strerror(errno));
    /* on failure the descriptor stays, closed by store_close after SQLite */
    if ((rc = lock_journal(st->lock_fd, st->db.path, err)) == CL_OK)
        st->claimed = 1;
    return rc;
}

long store_search_pid(const cl_store *st)
{
    struct stat sb;
    if (stat(st->db.path, &sb) != 0)
        return -1;
    return lock_holder(sb.st_dev, sb.st_ino);
}

/* Refuse to replace the journal at path while a search holds it (no
 * SQLite connection of ours is open on it: the descriptor may close). */
static int check_unclaimed(const char *path, cl_err *err)
{
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CL_OK;   /* nothing there, or nothing we could open: removal says */
    rc = lock_journal(fd, path, err);
    close(fd);
    return rc;
}

/* Remove path (missing is fine). */
static int remove_file(const char *path, cl_err *err)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return ERR_SET(err, CL_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return CL_OK;
}

/* path with a suffix ("-wal"), in a caller's buffer */
static int side_path(const char *path, const char *suffix, char *buf, size_t cap, cl_err *err)
{
    int n = snprintf(buf, cap, "%s%s", path, suffix);
    if (n < 0 || (size_t)n >= cap)
        return ERR_SET(err, CL_ERR_ARG, "%s: path too long", path);
    return CL_OK;
}

/* Remove the journal and the files SQLite keeps beside it.  A stale -wal
 * or -journal would otherwise be replayed into a new file of that name. */
static int remove_journal(const char *path, cl_err *err)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char buf[4096];
    for (size_t i = 0; i < CL_ARRAY_LEN(suffixes); i++) {
        int rc = side_path(path, suffixes[i], buf, sizeof buf, err);
        if (rc == CL_OK)
            rc = remove_file(buf, err);
        if (rc)
            return rc;
    }
    return CL_OK;
}

int store_create(const char *path, int force, cl_store **out, cl_err *err)
{
    cl_store *st = NULL;
    char buf[4096];
    int fd, rc;
    *out = NULL;
    if (!path || !*path)
        return ERR_SET(err, CL_ERR_ARG, "store: no journal path given");
    if (force) {
        rc = check_unclaimed(path, err);
        if (rc == CL_OK)
            rc = remove_journal(path, err);
        if (rc)
            return rc;
    } else {
        struct stat sb;
        rc = side_path(path, "-wal", buf, sizeof buf, err);
        if (rc)
            return rc;
        if (stat(buf, &sb) == 0)
            return ERR_SET(err, CL_ERR_IO, "%s: exists (left by an earlier journal); use --force "
                           "to overwrite it", buf);
    }
    /* O_EXCL makes "exists" a decision of the kernel, not of a race
     * between our check and SQLite's open */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        if (errno == EEXIST)
            return ERR_SET(err, CL_ERR_IO, "%s: exists; use --force to overwrite it", path);
        return ERR_SET(err, CL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    close(fd);
    rc = handle_alloc(path, &st, err);
    if (rc == CL_OK)
        rc = db_connect(st, 0, err);
    if (rc == CL_OK)
        rc = db_configure(st, err);
    if (rc == CL_OK)
        rc = migrate(st, 1, err);
    if (rc == CL_OK)
        rc = store_claim(st, err);
    if (rc) {
        store_close(st);
        remove_journal(path, NULL);   /* ours since O_EXCL: leave nothing half-made */
        return rc;
    }
    *out = st;
    return CL_OK;
}

/* The checks of store_open, in an order that never writes to a file that
 * turns out not to be ours. */
static int check_journal(cl_store *st, cl_err *err)
{
    const char *path = st->db.path;
    int64_t app_id, version;
    sql_stmt q;
    int row, rc;

    rc = sql_query_int64(&st->db, "PRAGMA application_id", &app_id, err);
    if (rc) {
        if (st->db.last_rc == SQLITE_NOTADB)
            return ERR_SET(err, CL_ERR_FORMAT, "%s: not a cellar journal (file is not a database)",
                           path);
        return rc;
    }
    if (app_id != STORE_APPLICATION_ID) {
        struct stat sb;
        /* SQLite reads an empty file as an empty database */
        if (stat(path, &sb) == 0 && sb.st_size == 0)
            return ERR_SET(err, CL_ERR_FORMAT, "%s: not a cellar journal (the file is empty)",
                           path);
        return ERR_SET(err, CL_ERR_FORMAT,
                       "%s: not a cellar journal (it is some other SQLite database)", path);
    }
    rc = sql_query_int64(&st->db, "PRAGMA user_version", &version, err);
    if (rc)
        return rc;
    if (version > STORE_SCHEMA_VERSION)
        return ERR_SET(err, CL_ERR_FORMAT,
                       "%s: written by a newer cellar (schema version %lld, this cellar reads up "
                       "to %d)",
                       path, (long long)version, STORE_SCHEMA_VERSION);
    if (version < 0)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: not a cellar journal (schema version %lld)", path,
                       (long long)version);

    /* quick_check reads every page: a journal that is damaged is refused
     * here rather than failing halfway through a search */
    rc = sql_prepare(&st->db, &q, "PRAGMA quick_check(1)", err);
    if (rc)
        return rc;
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK) {
        const char *res = row ? sql_col_text(&q, 0) : NULL;
        if (!res || strcmp(res, "ok") != 0) {
            /* its report spans lines ("*** in database main ***\nPage 2:
             * ..."); a message is one line */
            char line[256];
            size_t n = 0;
            if (res && strncmp(res, "*** in database main ***\n", 25) == 0)
                res += 25;
            for (; res && *res && n + 3 < sizeof line; res++) {
                if (*res == '\n') {
                    line[n++] = ';';
                    line[n++] = ' ';
                } else {
                    line[n++] = *res;
                }
            }
            line[n] = '\0';
            rc = ERR_SET(err, CL_ERR_FORMAT, "%s: the journal is damaged (quick_check: %s)", path,
                         n ? line : "no answer");
        }
    }
    sql_finalize(&q);
    return rc;
}

/* Whether a -wal file beside path holds changes (a search running on
 * the journal, or one killed): then the file alone is not the journal. */
static int wal_pending(const char *path)
{
    char wal[4096];
    struct stat sb;
    return side_path(path, "-wal", wal, sizeof wal, NULL) == CL_OK && stat(wal, &sb) == 0 &&
           sb.st_size > 0;
}

int store_open(const char *path, cl_store **out, cl_err *err)
{
    cl_store *st = NULL;
    struct stat sb;
    int rc, immutable = 0;
    *out = NULL;
    if (!path || !*path)
        return ERR_SET(err, CL_ERR_ARG, "store: no journal path given");
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            return ERR_SET(err, CL_ERR_IO, "%s: no such journal", path);
        return ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return ERR_SET(err, CL_ERR_FORMAT, "%s: not a cellar journal (not a regular file)", path);
    rc = handle_alloc(path, &st, err);
    if (rc == CL_OK)
        rc = db_connect(st, 0, err);
    if (rc == CL_OK)
        rc = check_journal(st, err);
    /* Reading a journal (WAL mode) needs its -shm file beside it, made by
     * the first reader: where this user may not make it (another user's
     * journal, a read-only directory) and no search holds the journal (a
     * search keeps that file there), the file alone is the whole journal:
     * read it so, as immutable.  Writing it is refused, saying why
     * (sql.c). */
    if (rc && st && st->db.db &&
        (st->db.last_rc == SQLITE_READONLY || st->db.last_rc == SQLITE_CANTOPEN)) {
        if (wal_pending(path)) {
            rc = ERR_SET(err, CL_ERR_IO,
                         "%s: cannot be read by this user: its -wal file holds changes that "
                         "SQLite reads through a -shm file this user may not make or write (a "
                         "search running on it, or one killed: 'cellar show' by the journal's "
                         "owner takes them in)",
                         path);
        } else {
            sqlite3_close(st->db.db);
            st->db.db = NULL;
            st->db.last_rc = 0;
            immutable = 1;
            rc = db_connect(st, 1, err);
            if (rc == CL_OK)
                rc = check_journal(st, err);
        }
    }
    if (rc == CL_OK)
        rc = immutable ? sql_exec(&st->db, "PRAGMA foreign_keys = ON", err)
                       : db_configure(st, err);
    if (rc == CL_OK)
        rc = migrate(st, 0, err);
    if (rc) {
        store_close(st);
        return rc;
    }
    *out = st;
    return CL_OK;
}

const char *store_path(const cl_store *st)
{
    return st->db.path;
}

int store_begin(cl_store *st, cl_err *err)
{
    return sql_begin(&st->db, err);
}

int store_commit(cl_store *st, cl_err *err)
{
    return sql_commit(&st->db, err);
}

void store_rollback(cl_store *st)
{
    sql_rollback(&st->db);
}

/* The SQL of the cached statements, by Q_* index. */
#define TRIAL_COLS                                                                            \
    "id, genotype, hash, state, reward, accuracy, params, flops, seconds, worker, recipe, "     \
    "hash_recipe, actions, logp, reason, reused_from, created, started, finished"
#define TRIAL_NCOLS 19   /* the columns TRIAL_COLS names */

static const char *const cached_sql[Q_COUNT] = {
    [Q_TRIAL_INSERT] =
        "INSERT INTO trials(genotype, hash, state, reward, accuracy, params, flops, seconds, "
        "worker, recipe, hash_recipe, actions, logp, reason, reused_from, created, started, "
        "finished) VALUES(:genotype, :hash, :state, :reward, :accuracy, :params, :flops, "
        ":seconds, :worker, :recipe, :hash_recipe, :actions, :logp, :reason, :reused_from, "
        ":created, :started, :finished)",
    /* A NaN start or finish time keeps the stored one, or becomes now when
     * the state says the trial has started or ended; pending clears both. */
    [Q_TRIAL_UPDATE] =
        "UPDATE trials SET genotype = :genotype, hash = :hash, state = :state, reward = :reward, "
        "accuracy = :accuracy, params = :params, flops = :flops, seconds = :seconds, "
        "worker = :worker, recipe = :recipe, hash_recipe = :hash_recipe, actions = :actions, "
        "logp = :logp, reason = :reason, reused_from = :reused_from, "
        "created = COALESCE(:created, created), "
        "started = CASE WHEN :started IS NOT NULL OR :state = 'pending' THEN :started "
        "ELSE COALESCE(started, :now) END, "
        "finished = CASE WHEN :finished IS NOT NULL OR :state IN ('pending', 'running') "
        "THEN :finished ELSE COALESCE(finished, :now) END "
        "WHERE id = :id",
    [Q_TRIAL_GET] = "SELECT " TRIAL_COLS " FROM trials WHERE id = :id",
    /* a trial stopped early (done, with a reason) is no result to reuse */
    [Q_TRIAL_FIND] = "SELECT " TRIAL_COLS " FROM trials WHERE hash = :hash AND "
                     "hash_recipe = :hash_recipe AND state = 'done' AND reason IS NULL "
                     "ORDER BY id DESC LIMIT 1",
    [Q_METRIC_INSERT] =
        ("INSERT INTO metrics(trial, epoch, train_loss, train_acc, val_acc, lr, seconds) "
         "VALUES(:trial, :epoch, :train_loss, :train_acc, :val_acc, :lr, :seconds)"),
    [Q_METRIC_REPLACE] =
        ("INSERT OR REPLACE INTO metrics(trial, epoch, train_loss, train_acc, val_acc, lr, "
         "seconds) VALUES(:trial, :epoch, :train_loss, :train_acc, :val_acc, :lr, :seconds)"),
};

/* A cached statement, prepared on first use.  The caller resets it when
 * done (sql_reset), on every path. */
static int cached(cl_store *st, int which, sql_stmt **out, cl_err *err)
{
    sql_stmt *q = &st->cache[which];
    if (!q->s) {
        int rc = sql_prepare(&st->db, q, cached_sql[which], err);
        if (rc)
            return rc;
    }
    *out = q;
    return CL_OK;
}

/* ---- experiment ---- */

/* Replaces the one experiment row; an unset created keeps the stored one
 * (or becomes now in a new journal). */
int store_experiment_set(cl_store *st, const store_experiment *e, cl_err *err)
{
    sql_stmt q;
    int rc = sql_prepare(&st->db, &q,
                         "INSERT OR REPLACE INTO experiment(id, name, source_path, source, "
                         "settings, seed, created) VALUES(1, :name, :source_path, :source, "
                         ":settings, :seed, COALESCE(:created, (SELECT created FROM experiment "
                         "WHERE id = 1), :now))",
                         err);
    if (rc)
        return rc;
    sql_bind_text(&q, ":name", e->name);
    sql_bind_text(&q, ":source_path", e->source_path);
    sql_bind_text(&q, ":source", e->source);
    sql_bind_text(&q, ":settings", e->settings);
    sql_bind_int64(&q, ":seed", e->seed);
    sql_bind_double(&q, ":created", time_unset(e->created) ? NAN : e->created);
    sql_bind_double(&q, ":now", wall_now());
    rc = sql_run(&q, err);
    sql_finalize(&q);
    return rc;
}

/* Fills *e (overwriting it) with strings e owns; on failure *e is empty. */
int store_experiment_get(cl_store *st, store_experiment *e, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    memset(e, 0, sizeof *e);
    rc = sql_prepare(&st->db, &q,
                     "SELECT name, source_path, source, settings, seed, created FROM experiment "
                     "WHERE id = 1",
                     err);
    if (rc)
        return rc;
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK && !row)
        rc = ERR_SET(err, CL_ERR_FORMAT, "%s: the journal holds no experiment", st->db.path);
    if (rc == CL_OK)
        rc = sql_col_dup(&q, 0, &e->name, err);
    if (rc == CL_OK)
        rc = sql_col_dup(&q, 1, &e->source_path, err);
    if (rc == CL_OK)
        rc = sql_col_dup(&q, 2, &e->source, err);
    if (rc == CL_OK)
        rc = sql_col_dup(&q, 3, &e->settings, err);
    if (rc == CL_OK) {
        e->seed = sql_col_int64(&q, 4);
        e->created = sql_col_double(&q, 5);
    }
    sql_finalize(&q);
    if (rc)
        store_experiment_clear(e);
    return rc;
}

void store_experiment_clear(store_experiment *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->source_path);
    free(e->source);
    free(e->settings);
    memset(e, 0, sizeof *e);
}

/* ---- trials ---- */

static const char *const state_names[] = {
    [TRIAL_PENDING] = "pending",
    [TRIAL_RUNNING] = "running",
    [TRIAL_DONE] = "done",
    [TRIAL_FAILED] = "failed",
};

const char *trial_state_name(trial_state s)
{
    if ((int)s < 0 || (size_t)s >= CL_ARRAY_LEN(state_names))
        return "unknown";
    return state_names[s];
}

static int state_valid(int s)
{
    return s >= 0 && (size_t)s < CL_ARRAY_LEN(state_names);
}

static int state_parse(const char *text, trial_state *out)
{
    for (size_t i = 0; text && i < CL_ARRAY_LEN(state_names); i++)
        if (strcmp(text, state_names[i]) == 0) {
            *out = (trial_state)i;
            return 0;
        }
    return -1;
}

void store_trial_clear(store_trial *t)
{
    if (!t)
        return;
    free(t->genotype);
    free(t->recipe);
    free(t->actions);
    free(t->reason);
    memset(t, 0, sizeof *t);
}

/* The fields insert and update share.  hash and hash_recipe are read to at
 * most 16 characters so an unterminated array cannot be overrun. */
static void bind_trial(sql_stmt *q, const store_trial *t)
{
    sql_bind_text(q, ":genotype", t->genotype);
    sql_bind_textn(q, ":hash", t->hash, strnlen(t->hash, sizeof t->hash - 1));
    sql_bind_text(q, ":state", trial_state_name(t->state));
    sql_bind_double(q, ":reward", t->reward);
    sql_bind_double(q, ":accuracy", t->accuracy);
    sql_bind_int64(q, ":params", t->params);
    sql_bind_double(q, ":flops", t->flops);
    sql_bind_double(q, ":seconds", t->seconds);
    sql_bind_int64(q, ":worker", t->worker);
    sql_bind_text(q, ":recipe", t->recipe);
    sql_bind_textn(q, ":hash_recipe", t->hash_recipe,
                   strnlen(t->hash_recipe, sizeof t->hash_recipe - 1));
    sql_bind_text(q, ":actions", t->actions);
    sql_bind_double(q, ":logp", t->logp);
    sql_bind_text(q, ":reason", t->reason);
    if (t->reused_from > 0)
        sql_bind_int64(q, ":reused_from", t->reused_from);
    else
        sql_bind_null(q, ":reused_from");
}

static int trial_check(const char *what, const store_trial *t, cl_err *err)
{
    if (!t->genotype || !t->hash[0] || !state_valid((int)t->state))
        return ERR_SET(err, CL_ERR_ARG, "%s: a trial needs a genotype, a hash and a valid state",
                       what);
    return CL_OK;
}

/* Times are filled in by the store where the caller left them unset:
 * created always, started once the state is past pending, finished once it
 * is done or failed.  The filled values are written back into *t. */
int store_trial_insert(cl_store *st, store_trial *t, cl_err *err)
{
    sql_stmt *q;
    double now = wall_now();
    int rc = trial_check("store_trial_insert", t, err);
    if (rc == CL_OK)
        rc = cached(st, Q_TRIAL_INSERT, &q, err);
    if (rc)
        return rc;
    if (time_unset(t->created))
        t->created = now;
    if (time_unset(t->started))
        t->started = t->state != TRIAL_PENDING ? now : NAN;
    if (time_unset(t->finished))
        t->finished = t->state == TRIAL_DONE || t->state == TRIAL_FAILED ? now : NAN;
    bind_trial(q, t);
    sql_bind_double(q, ":created", t->created);
    sql_bind_double(q, ":started", t->started);
    sql_bind_double(q, ":finished", t->finished);
    rc = sql_run(q, err);
    if (rc == CL_OK)
        t->id = (int64_t)sqlite3_last_insert_rowid(st->db.db);
    return rc;
}

/* Writes every field as given, except unset (NaN or 0) times, which keep
 * the stored value or become now as store_trial_insert describes; a trial
 * set back to pending has its start and finish cleared. */
int store_trial_update(cl_store *st, const store_trial *t, cl_err *err)
{
    sql_stmt *q;
    int rc = trial_check("store_trial_update", t, err);
    if (rc == CL_OK)
        rc = cached(st, Q_TRIAL_UPDATE, &q, err);
    if (rc)
        return rc;
    bind_trial(q, t);
    sql_bind_double(q, ":created", time_unset(t->created) ? NAN : t->created);
    sql_bind_double(q, ":started", time_unset(t->started) ? NAN : t->started);
    sql_bind_double(q, ":finished", time_unset(t->finished) ? NAN : t->finished);
    sql_bind_double(q, ":now", wall_now());
    sql_bind_int64(q, ":id", t->id);
    rc = sql_run(q, err);
    if (rc == CL_OK && sqlite3_changes(st->db.db) != 1)
        rc = ERR_SET(err, CL_ERR_ARG, "%s: no trial %lld to update", st->db.path,
                     (long long)t->id);
    return rc;
}

static void copy_hash(char dst[17], const char *src)
{
    size_t n = src ? strnlen(src, 16) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* Read the TRIAL_COLS row of q into *t.  With own set the strings are
 * copies the caller frees; otherwise they point into the statement and die
 * with the next step.  *t is overwritten; on failure it is empty. */
static int read_trial(cl_store *st, sql_stmt *q, store_trial *t, int own, cl_err *err)
{
    static const int text_cols[4] = {1, 10, 12, 14};
    char **text_fields[4] = {&t->genotype, &t->recipe, &t->actions, &t->reason};
    int rc = CL_OK;
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 4 && rc == CL_OK; i++) {
        if (own)
            rc = sql_col_dup(q, text_cols[i], text_fields[i], err);
        else
            *text_fields[i] = (char *)sql_col_text(q, text_cols[i]);
    }
    if (rc) {
        if (own)
            store_trial_clear(t);
        else
            memset(t, 0, sizeof *t);
        return rc;
    }
    t->id = sql_col_int64(q, 0);
    copy_hash(t->hash, sql_col_text(q, 2));
    if (state_parse(sql_col_text(q, 3), &t->state) != 0) {
        const char *s = sql_col_text(q, 3);
        rc = ERR_SET(err, CL_ERR_FORMAT, "%s: trial %lld has an unknown state '%s'", st->db.path,
                     (long long)t->id, s ? s : "(null)");
        if (own)
            store_trial_clear(t);
        else
            memset(t, 0, sizeof *t);
        return rc;
    }
    t->reward = sql_col_double(q, 4);
    t->accuracy = sql_col_double(q, 5);
    t->params = sql_col_int64(q, 6);
    t->flops = sql_col_double(q, 7);
    t->seconds = sql_col_double(q, 8);
    t->worker = (int)sql_col_int64(q, 9);
    copy_hash(t->hash_recipe, sql_col_text(q, 11));
    t->logp = sql_col_double(q, 13);
    t->reused_from = sql_col_int64(q, 15);
    t->created = sql_col_double(q, 16);
    t->started = sql_col_double(q, 17);
    t->finished = sql_col_double(q, 18);
    return CL_OK;
}

/* Fills *t (overwriting it) with strings t owns; on failure *t is empty. */
int store_trial_get(cl_store *st, int64_t id, store_trial *t, cl_err *err)
{
    sql_stmt *q;
    int row, rc;
    memset(t, 0, sizeof *t);
    rc = cached(st, Q_TRIAL_GET, &q, err);
    if (rc)
        return rc;
    sql_bind_int64(q, ":id", id);
    rc = sql_step(q, &row, err);
    if (rc == CL_OK && !row)
        rc = ERR_SET(err, CL_ERR_ARG, "%s: no trial %lld", st->db.path, (long long)id);
    if (rc == CL_OK)
        rc = read_trial(st, q, t, 1, err);
    sql_reset(q);
    return rc;
}

/* The record passed to fn borrows its strings from the statement: they
 * are valid only until fn returns.  fn may call other store functions;
 * writes it makes are committed as they happen (outside store_begin). */
static int trial_walk(cl_store *st, int state, int64_t from,
                      int (*fn)(void *ud, const store_trial *t), void *ud, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    if (state >= 0 && !state_valid(state))
        return ERR_SET(err, CL_ERR_ARG, "store_trial_each: bad state %d", state);
    rc = sql_prepare(&st->db, &q,
                     "SELECT " TRIAL_COLS " FROM trials WHERE (:state IS NULL OR state = :state) "
                     "AND id >= :from ORDER BY id",
                     err);
    if (rc)
        return rc;
    if (state >= 0)
        sql_bind_text(&q, ":state", state_names[state]);
    else
        sql_bind_null(&q, ":state");
    sql_bind_int64(&q, ":from", from);
    while ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        store_trial t;
        rc = read_trial(st, &q, &t, 0, err);
        if (rc || fn(ud, &t))
            break;
    }
    sql_finalize(&q);
    return rc;
}

int store_trial_each(cl_store *st, int state, int (*fn)(void *ud, const store_trial *t), void *ud,
                     cl_err *err)
{
    return trial_walk(st, state, 0, fn, ud, err);
}

int store_trial_each_from(cl_store *st, int64_t from, int (*fn)(void *ud, const store_trial *t),
                          void *ud, cl_err *err)
{
    return trial_walk(st, -1, from, fn, ud, err);
}

/* Fills *t (overwriting it) when found; *t is empty otherwise. */
int store_trial_find_done(cl_store *st, const char *hash, const char *hash_recipe,
                          store_trial *t, int *found, cl_err *err)
{
    sql_stmt *q;
    int row, rc;
    memset(t, 0, sizeof *t);
    *found = 0;
    if (!hash)
        return ERR_SET(err, CL_ERR_ARG, "store_trial_find_done: no hash given");
    rc = cached(st, Q_TRIAL_FIND, &q, err);
    if (rc)
        return rc;
    sql_bind_textn(q, ":hash", hash, strnlen(hash, 16));
    sql_bind_textn(q, ":hash_recipe", hash_recipe ? hash_recipe : "",
                   hash_recipe ? strnlen(hash_recipe, 16) : 0);
    rc = sql_step(q, &row, err);
    if (rc == CL_OK && row) {
        rc = read_trial(st, q, t, 1, err);
        *found = rc == CL_OK;
    }
    sql_reset(q);
    return rc;
}

int store_trial_newest_recipe(cl_store *st, char hash_recipe[17], int64_t *id, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q,
                              "SELECT hash_recipe, id FROM trials WHERE hash_recipe IS NOT NULL "
                              "AND hash_recipe <> '' ORDER BY id DESC LIMIT 1",
                              err);
    hash_recipe[0] = '\0';
    if (id)
        *id = 0;
    if (rc)
        return rc;
    if ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        const char *h = sql_col_text(&q, 0);
        snprintf(hash_recipe, 17, "%s", h ? h : "");
        if (id)
            *id = sql_col_int64(&q, 1);
    }
    sql_finalize(&q);
    return rc;
}

int store_trial_best(cl_store *st, const char *hash_recipe, store_trial *t, int *found,
                     int64_t *n, cl_err *err)
{
    /* the count after the trial's columns (no row: no done trial, count 0) */
    sql_stmt q;
    int row, rc;
    memset(t, 0, sizeof *t);
    *found = 0;
    if (n)
        *n = 0;
    if ((rc = sql_prepare(&st->db, &q,
                          "SELECT " TRIAL_COLS ", (SELECT count(*) FROM trials WHERE state = "
                          "'done' AND hash_recipe = :hash_recipe) FROM trials WHERE state = "
                          "'done' AND hash_recipe = :hash_recipe ORDER BY reward DESC, id ASC "
                          "LIMIT 1",
                          err)))
        return rc;
    sql_bind_textn(&q, ":hash_recipe", hash_recipe, strnlen(hash_recipe, 16));
    if ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        rc = read_trial(st, &q, t, 1, err);
        *found = rc == CL_OK;
        if (*found && n)
            *n = sql_col_int64(&q, TRIAL_NCOLS);
    }
    sql_finalize(&q);
    return rc;
}

int store_trial_counts(cl_store *st, int64_t *pending, int64_t *running, int64_t *done,
                       int64_t *failed, cl_err *err)
{
    int64_t n[4] = {0, 0, 0, 0};
    int64_t *outs[4] = {pending, running, done, failed};
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q, "SELECT state, count(*) FROM trials GROUP BY state",
                              err);
    if (rc)
        return rc;
    while ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        trial_state s;
        if (state_parse(sql_col_text(&q, 0), &s) == 0)
            n[s] = sql_col_int64(&q, 1);
    }
    sql_finalize(&q);
    if (rc)
        return rc;
    for (int i = 0; i < 4; i++)
        if (outs[i])
            *outs[i] = n[i];
    return CL_OK;
}

/* ---- per-epoch metrics ---- */

/* An epoch's row, bound to :trial (a trial's or a training's id),
 * :epoch, :train_loss, ... and written. */
static int metric_run(sql_stmt *q, const store_metric *m, cl_err *err)
{
    sql_bind_int64(q, ":trial", m->trial);
    sql_bind_int64(q, ":epoch", m->epoch);
    sql_bind_double(q, ":train_loss", m->train_loss);
    sql_bind_double(q, ":train_acc", m->train_acc);
    sql_bind_double(q, ":val_acc", m->val_acc);
    sql_bind_double(q, ":lr", m->lr);
    sql_bind_double(q, ":seconds", m->seconds);
    return sql_run(q, err);
}

/* The rows of a prepared and bound SELECT of (id, epoch, train_loss,
 * train_acc, val_acc, lr, seconds) to fn, then finalized. */
static int metric_walk(sql_stmt *q, int (*fn)(void *ud, const store_metric *m), void *ud,
                       cl_err *err)
{
    int row, rc;
    while ((rc = sql_step(q, &row, err)) == CL_OK && row) {
        store_metric m;
        m.trial = sql_col_int64(q, 0);
        m.epoch = (int)sql_col_int64(q, 1);
        m.train_loss = sql_col_double(q, 2);
        m.train_acc = sql_col_double(q, 3);
        m.val_acc = sql_col_double(q, 4);
        m.lr = sql_col_double(q, 5);
        m.seconds = sql_col_double(q, 6);
        if (fn(ud, &m))
            break;
    }
    sql_finalize(q);
    return rc;
}

static int metric_put(cl_store *st, int which, const store_metric *m, cl_err *err)
{
    sql_stmt *q;
    int rc = cached(st, which, &q, err);
    return rc ? rc : metric_run(q, m, err);
}

int store_metric_insert(cl_store *st, const store_metric *m, cl_err *err)
{
    return metric_put(st, Q_METRIC_INSERT, m, err);
}

int store_metric_replace(cl_store *st, const store_metric *m, cl_err *err)
{
    return metric_put(st, Q_METRIC_REPLACE, m, err);
}

/* Epochs of one trial in order; fn returning non-zero stops the walk. */
int store_metric_each(cl_store *st, int64_t trial, int (*fn)(void *ud, const store_metric *m),
                      void *ud, cl_err *err)
{
    if (trial < 1)
        return ERR_SET(err, CL_ERR_ARG, "store_metric_each: no trial %lld", (long long)trial);
    return store_metric_each_at(st, trial, 0, fn, ud, err);
}

int store_metric_each_at(cl_store *st, int64_t trial, int epoch,
                         int (*fn)(void *ud, const store_metric *m), void *ud, cl_err *err)
{
    sql_stmt q;
    int rc = sql_prepare(&st->db, &q,
                         "SELECT trial, epoch, train_loss, train_acc, val_acc, lr, seconds "
                         "FROM metrics WHERE (:trial = 0 OR trial = :trial) AND "
                         "(:epoch = 0 OR epoch = :epoch) ORDER BY trial, epoch",
                         err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":trial", trial);
    sql_bind_int64(&q, ":epoch", epoch);
    return metric_walk(&q, fn, ud, err);
}

/* v (times scale) in fmt, or "-" when not measured */
static void num_or_dash(char *out, size_t cap, const char *fmt, double v, double scale)
{
    if (isfinite(v))
        snprintf(out, cap, fmt, v * scale);
    else
        snprintf(out, cap, "-");
}

void store_metric_text(const store_metric *m, char *out, size_t cap)
{
    char loss[32], ta[32], va[32], lr[32], sec[32];
    num_or_dash(loss, sizeof loss, "%.4f", m->train_loss, 1.0);
    num_or_dash(ta, sizeof ta, "%.2f%%", m->train_acc, 100.0);
    num_or_dash(va, sizeof va, "%.2f%%", m->val_acc, 100.0);
    num_or_dash(lr, sizeof lr, "%.3g", m->lr, 1.0);
    num_or_dash(sec, sizeof sec, "%.1f", m->seconds, 1.0);
    snprintf(out, cap, "%5d %10s %9s %9s %10s %8s", m->epoch, loss, ta, va, lr, sec);
}

int store_metric_last_epoch(cl_store *st, int64_t trial, int *epoch, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q,
                              "SELECT COALESCE(MAX(epoch), 0) FROM metrics WHERE trial = :trial",
                              err);
    *epoch = 0;
    if (rc)
        return rc;
    sql_bind_int64(&q, ":trial", trial);
    if ((rc = sql_step(&q, &row, err)) == CL_OK && row)
        *epoch = (int)sql_col_int64(&q, 0);
    sql_finalize(&q);
    return rc;
}

int store_metric_delete(cl_store *st, int64_t trial, cl_err *err)
{
    sql_stmt q;
    int rc = sql_prepare(&st->db, &q, "DELETE FROM metrics WHERE trial = :trial", err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":trial", trial);
    rc = sql_run(&q, err);
    sql_finalize(&q);
    return rc;
}

/* ---- controller steps ---- */

void store_ctrl_step_clear(store_ctrl_step *s)
{
    if (!s)
        return;
    free(s->trials);
    free(s->decisions);
    memset(s, 0, sizeof *s);
}

/* s->step is the caller's (a repeated step is refused); an unset time
 * becomes now. */
int store_ctrl_step_insert(cl_store *st, const store_ctrl_step *s, cl_err *err)
{
    sql_stmt q;
    int rc = sql_prepare(&st->db, &q,
                         "INSERT INTO controller_steps(step, entropy, reward_ema, loss, lr, "
                         "trials, decisions, time) VALUES(:step, :entropy, :reward_ema, :loss, "
                         ":lr, :trials, :decisions, :time)",
                         err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":step", s->step);
    sql_bind_double(&q, ":entropy", s->entropy);
    sql_bind_double(&q, ":reward_ema", s->reward_ema);
    sql_bind_double(&q, ":loss", s->loss);
    sql_bind_double(&q, ":lr", s->lr);
    sql_bind_text(&q, ":trials", s->trials);
    sql_bind_text(&q, ":decisions", s->decisions);
    sql_bind_double(&q, ":time", time_unset(s->time) ? wall_now() : s->time);
    rc = sql_run(&q, err);
    sql_finalize(&q);
    return rc;
}

/* Steps in order; the strings of the record are valid only until fn
 * returns; fn returning non-zero stops the walk. */
int store_ctrl_step_each(cl_store *st, int64_t after,
                         int (*fn)(void *ud, const store_ctrl_step *s), void *ud, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q,
                              "SELECT step, entropy, reward_ema, loss, lr, trials, decisions, "
                              "time FROM controller_steps WHERE step > :after ORDER BY step",
                              err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":after", after);
    while ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        store_ctrl_step s;
        s.step = sql_col_int64(&q, 0);
        s.entropy = sql_col_double(&q, 1);
        s.reward_ema = sql_col_double(&q, 2);
        s.loss = sql_col_double(&q, 3);
        s.lr = sql_col_double(&q, 4);
        s.trials = (char *)sql_col_text(&q, 5);
        s.decisions = (char *)sql_col_text(&q, 6);
        s.time = sql_col_double(&q, 7);
        if (fn(ud, &s))
            break;
    }
    sql_finalize(&q);
    return rc;
}

static char *dup_text(const char *s) { return s ? strdup(s) : NULL; }

int store_ctrl_step_get(cl_store *st, int64_t step, store_ctrl_step *s, int *found, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q,
                              "SELECT step, entropy, reward_ema, loss, lr, trials, decisions, "
                              "time FROM controller_steps WHERE :step = 0 OR step = :step "
                              "ORDER BY step DESC LIMIT 1",
                              err);
    memset(s, 0, sizeof *s);
    *found = 0;
    if (rc)
        return rc;
    sql_bind_int64(&q, ":step", step);
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK && row) {
        s->step = sql_col_int64(&q, 0);
        s->entropy = sql_col_double(&q, 1);
        s->reward_ema = sql_col_double(&q, 2);
        s->loss = sql_col_double(&q, 3);
        s->lr = sql_col_double(&q, 4);
        s->trials = dup_text(sql_col_text(&q, 5));
        s->decisions = dup_text(sql_col_text(&q, 6));
        s->time = sql_col_double(&q, 7);
        if ((sql_col_text(&q, 5) && !s->trials) || (sql_col_text(&q, 6) && !s->decisions)) {
            store_ctrl_step_clear(s);
            rc = ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory for a controller step",
                         st->db.path);
        } else {
            *found = 1;
        }
    }
    sql_finalize(&q);
    return rc;
}

/* ---- commands ---- */

void store_command_clear(store_command *c)
{
    if (!c)
        return;
    free(c->source);
    free(c->name);
    free(c->old_value);
    free(c->new_value);
    memset(c, 0, sizeof *c);
}

/* source and name are required; c->id is set, and an unset c->time
 * becomes now (written back). */
int store_command_insert(cl_store *st, store_command *c, cl_err *err)
{
    sql_stmt q;
    int rc;
    if (!c->source || !c->name)
        return ERR_SET(err, CL_ERR_ARG,
                       "store_command_insert: a command needs a source and a name");
    rc = sql_prepare(&st->db, &q,
                     "INSERT INTO commands(time, source, name, old_value, new_value) "
                     "VALUES(:time, :source, :name, :old_value, :new_value)",
                     err);
    if (rc)
        return rc;
    if (time_unset(c->time))
        c->time = wall_now();
    sql_bind_double(&q, ":time", c->time);
    sql_bind_text(&q, ":source", c->source);
    sql_bind_text(&q, ":name", c->name);
    sql_bind_text(&q, ":old_value", c->old_value);
    sql_bind_text(&q, ":new_value", c->new_value);
    rc = sql_run(&q, err);
    if (rc == CL_OK)
        c->id = (int64_t)sqlite3_last_insert_rowid(st->db.db);
    sql_finalize(&q);
    return rc;
}

/* Commands in order; the strings of the record are valid only until fn
 * returns; fn returning non-zero stops the walk. */
int store_command_each(cl_store *st, int64_t after, int (*fn)(void *ud, const store_command *c),
                       void *ud, cl_err *err)
{
    sql_stmt q;
    int row, rc = sql_prepare(&st->db, &q,
                              "SELECT id, time, source, name, old_value, new_value FROM commands "
                              "WHERE id > :after ORDER BY id",
                              err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":after", after);
    while ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        store_command c;
        c.id = sql_col_int64(&q, 0);
        c.time = sql_col_double(&q, 1);
        c.source = (char *)sql_col_text(&q, 2);
        c.name = (char *)sql_col_text(&q, 3);
        c.old_value = (char *)sql_col_text(&q, 4);
        c.new_value = (char *)sql_col_text(&q, 5);
        if (fn(ud, &c))
            break;
    }
    sql_finalize(&q);
    return rc;
}

/* ---- trainings ---- */

int store_training_insert(cl_store *st, store_training *t, cl_err *err)
{
    sql_stmt q;
    int rc;
    if (!t->genotype || !t->settings || !state_valid((int)t->state))
        return ERR_SET(err, CL_ERR_ARG,
                       "store_training_insert: a training needs a genotype, settings and a state");
    if (st->version < 2)
        return ERR_SET(err, CL_ERR_IO,
                       "%s: a journal of an earlier cellar (version %d) that this process may "
                       "only read, so it cannot take trainings",
                       st->db.path, st->version);
    rc = sql_prepare(&st->db, &q,
                     "INSERT INTO trainings(trial, genotype, hash, settings, state, pid, started) "
                     "VALUES(:trial, :genotype, :hash, :settings, :state, :pid, :started)",
                     err);
    if (rc)
        return rc;
    if (time_unset(t->started))
        t->started = wall_now();
    if (t->trial > 0)
        sql_bind_int64(&q, ":trial", t->trial);
    sql_bind_text(&q, ":genotype", t->genotype);
    sql_bind_text(&q, ":hash", t->hash);
    sql_bind_text(&q, ":settings", t->settings);
    sql_bind_text(&q, ":state", trial_state_name(t->state));
    sql_bind_int64(&q, ":pid", (int64_t)t->pid);
    sql_bind_double(&q, ":started", t->started);
    rc = sql_run(&q, err);
    if (rc == CL_OK)
        t->id = (int64_t)sqlite3_last_insert_rowid(st->db.db);
    sql_finalize(&q);
    return rc;
}

int store_training_update(cl_store *st, store_training *t, cl_err *err)
{
    sql_stmt q;
    int rc;
    if (!state_valid((int)t->state))
        return ERR_SET(err, CL_ERR_ARG, "store_training_update: state %d is not one",
                       (int)t->state);
    rc = sql_prepare(&st->db, &q,
                     "UPDATE trainings SET state = :state, test_acc = :test_acc, "
                     "val_acc = :val_acc, params = :params, flops = :flops, seconds = :seconds, "
                     "reason = :reason, finished = :finished WHERE id = :id",
                     err);
    if (rc)
        return rc;
    if (time_unset(t->finished) && (t->state == TRIAL_DONE || t->state == TRIAL_FAILED))
        t->finished = wall_now();
    sql_bind_text(&q, ":state", trial_state_name(t->state));
    sql_bind_double(&q, ":test_acc", t->test_acc);
    sql_bind_double(&q, ":val_acc", t->val_acc);
    sql_bind_int64(&q, ":params", t->params);
    sql_bind_double(&q, ":flops", t->flops);
    sql_bind_double(&q, ":seconds", t->seconds);
    sql_bind_text(&q, ":reason", t->reason);
    sql_bind_double(&q, ":finished", time_unset(t->finished) ? NAN : t->finished);
    sql_bind_int64(&q, ":id", t->id);
    rc = sql_run(&q, err);
    if (rc == CL_OK && sqlite3_changes(st->db.db) != 1)
        rc = ERR_SET(err, CL_ERR_ARG, "%s: no training %lld to update", st->db.path,
                     (long long)t->id);
    sql_finalize(&q);
    /* a training done needs its checkpoint no more (megabytes of weights) */
    if (rc == CL_OK && t->state == TRIAL_DONE && st->version >= 3 &&
        (rc = sql_prepare(&st->db, &q,
                          "DELETE FROM training_checkpoints WHERE training = :id", err)) == CL_OK) {
        sql_bind_int64(&q, ":id", t->id);
        rc = sql_run(&q, err);
        sql_finalize(&q);
    }
    return rc;
}

int store_training_each(cl_store *st, int64_t trial,
                        int (*fn)(void *ud, const store_training *t), void *ud, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    if (st->version < 2)   /* a read-only journal of before trainings: none */
        return CL_OK;
    rc = sql_prepare(&st->db, &q,
                     st->version < 3   /* a read-only one of before checkpoints */
                         ? "SELECT id, trial, genotype, hash, settings, state, test_acc, val_acc, "
                           "params, flops, seconds, pid, reason, started, finished, "
                           "(SELECT count(*) FROM training_epochs WHERE training = id), 0 "
                           "FROM trainings WHERE :trial = 0 OR trial = :trial ORDER BY id"
                         : "SELECT id, trial, genotype, hash, settings, state, test_acc, val_acc, "
                           "params, flops, seconds, pid, reason, started, finished, "
                           "(SELECT count(*) FROM training_epochs WHERE training = id), "
                           "(SELECT epoch FROM training_checkpoints WHERE training = id) "
                           "FROM trainings WHERE :trial = 0 OR trial = :trial ORDER BY id",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":trial", trial);
    while ((rc = sql_step(&q, &row, err)) == CL_OK && row) {
        store_training t;
        const char *h = sql_col_text(&q, 3);
        memset(&t, 0, sizeof t);
        t.id = sql_col_int64(&q, 0);
        t.trial = sql_col_int64(&q, 1);
        t.genotype = (char *)sql_col_text(&q, 2);
        snprintf(t.hash, sizeof t.hash, "%.16s", h ? h : "");
        t.settings = (char *)sql_col_text(&q, 4);
        if (state_parse(sql_col_text(&q, 5), &t.state)) {
            rc = ERR_SET(err, CL_ERR_FORMAT, "%s: training %lld has an unknown state '%s'",
                         st->db.path, (long long)t.id,
                         sql_col_text(&q, 5) ? sql_col_text(&q, 5) : "");
            break;
        }
        t.test_acc = sql_col_double(&q, 6);
        t.val_acc = sql_col_double(&q, 7);
        t.params = sql_col_int64(&q, 8);
        t.flops = sql_col_double(&q, 9);
        t.seconds = sql_col_double(&q, 10);
        t.pid = (long)sql_col_int64(&q, 11);
        t.reason = (char *)sql_col_text(&q, 12);
        t.started = sql_col_double(&q, 13);
        t.finished = sql_col_double(&q, 14);
        t.epochs_done = (int)sql_col_int64(&q, 15);
        t.ckpt_epoch = (int)sql_col_int64(&q, 16);
        if (fn(ud, &t))
            break;
    }
    sql_finalize(&q);
    return rc;
}

double store_training_setting(const store_training *t, const char *key)
{
    double v = NAN;
    json_number(json_get(t->settings, key), &v);
    return v;
}

void store_training_setting_text(const store_training *t, const char *key, char *out,
                                 size_t cap)
{
    if (json_text(json_get(t->settings, key), out, cap))
        snprintf(out, cap, "?");
}

int store_training_live(const store_training *t)
{
    return t->state == TRIAL_RUNNING && t->pid > 0 &&
           (kill((pid_t)t->pid, 0) == 0 || errno == EPERM);
}

void store_training_state_text(const store_training *t, char *out, size_t cap)
{
    int epochs = (int)store_training_setting(t, "epochs");
    if (t->state == TRIAL_DONE)
        snprintf(out, cap, "done");
    else if (t->state == TRIAL_FAILED)
        snprintf(out, cap, "failed: %s", t->reason ? t->reason : "?");
    else if (store_training_live(t))
        snprintf(out, cap, "running (cellar process %ld), %d of %d epochs done", t->pid,
                 t->epochs_done, epochs);
    else
        snprintf(out, cap, "interrupted after %d of %d epochs (cellar process %ld is gone)",
                 t->epochs_done, epochs, t->pid);
    if (t->ckpt_epoch > 0 && t->state != TRIAL_DONE && !store_training_live(t)) {
        size_t n = strlen(out);
        if (n < cap)
            snprintf(out + n, cap - n, "; resumable from epoch %d", t->ckpt_epoch);
    }
}

void store_training_text(const store_training *t, char *out, size_t cap)
{
    char ds[32], be[16];
    int epochs = (int)store_training_setting(t, "epochs"), n;
    store_training_setting_text(t, "dataset", ds, sizeof ds);
    store_training_setting_text(t, "backend", be, sizeof be);
    n = snprintf(out, cap, "%s, %.0f images, N=%.0f F=%.0f, %d epoch%s of batch %.0f, lr %g, %s "
                 "backend: ", ds, store_training_setting(t, "train_images"),
                 store_training_setting(t, "N"), store_training_setting(t, "F"), epochs,
                 epochs == 1 ? "" : "s", store_training_setting(t, "batch"),
                 store_training_setting(t, "lr"), be);
    if (n < 0 || (size_t)n >= cap)
        return;
    if (t->state == TRIAL_DONE && isfinite(t->test_acc))
        snprintf(out + n, cap - (size_t)n, "test accuracy %.2f%% (%.0f images), %.1f s",
                 100.0 * t->test_acc, store_training_setting(t, "test_images"), t->seconds);
    else
        store_training_state_text(t, out + n, cap - (size_t)n);
}

int store_training_epoch_insert(cl_store *st, const store_metric *m, cl_err *err)
{
    sql_stmt q;
    int rc = sql_prepare(&st->db, &q,
                         "INSERT OR REPLACE INTO training_epochs(training, epoch, train_loss, "
                         "train_acc, val_acc, lr, seconds) VALUES(:trial, :epoch, :train_loss, "
                         ":train_acc, :val_acc, :lr, :seconds)",
                         err);
    if (rc)
        return rc;
    rc = metric_run(&q, m, err);
    sql_finalize(&q);
    return rc;
}

int store_training_epoch_each(cl_store *st, int64_t training,
                              int (*fn)(void *ud, const store_metric *m), void *ud, cl_err *err)
{
    sql_stmt q;
    int rc;
    if (st->version < 2)
        return CL_OK;
    rc = sql_prepare(&st->db, &q,
                     "SELECT training, epoch, train_loss, train_acc, val_acc, lr, seconds "
                     "FROM training_epochs WHERE training = :training ORDER BY epoch",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":training", training);
    return metric_walk(&q, fn, ud, err);
}

/* A blob column of the current row as a malloc'd copy (never NULL, even
 * for 0 bytes), the caller's to free. */
static int col_blob_copy(cl_store *st, sql_stmt *q, int col, unsigned char **blob, size_t *len,
                         cl_err *err)
{
    /* column_blob before column_bytes, as SQLite asks */
    const void *data = sqlite3_column_blob(q->s, col);
    size_t n = (size_t)sqlite3_column_bytes(q->s, col);
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory (checkpoint of %zu bytes)",
                       st->db.path, n);
    if (n > 0 && !data) {
        free(copy);
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory reading a checkpoint", st->db.path);
    }
    if (n)
        memcpy(copy, data, n);
    *blob = copy;
    *len = n;
    return CL_OK;
}

/* ---- a training's checkpoint ---- */

int store_training_checkpoint_save(cl_store *st, int64_t training, int epoch, const void *blob,
                                   size_t len, cl_err *err)
{
    sql_stmt q;
    int rc;
    if (!blob || len == 0)
        return ERR_SET(err, CL_ERR_ARG, "store_training_checkpoint_save: no data");
    if (st->version < 3)
        return ERR_SET(err, CL_ERR_IO,
                       "%s: a journal of an earlier cellar (version %d) that this process may "
                       "only read, so it cannot take checkpoints",
                       st->db.path, st->version);
    rc = sql_prepare(&st->db, &q,
                     "INSERT OR REPLACE INTO training_checkpoints(training, epoch, saved, blob) "
                     "VALUES(:training, :epoch, :saved, :blob)",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":training", training);
    sql_bind_int64(&q, ":epoch", epoch);
    sql_bind_double(&q, ":saved", wall_now());
    sql_bind_blob(&q, ":blob", blob, len);
    rc = sql_run(&q, err);
    sql_finalize(&q);
    return rc;
}

int store_training_checkpoint_get(cl_store *st, int64_t training, int *epoch,
                                  unsigned char **blob, size_t *len, int *found, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    *found = 0;
    *blob = NULL;
    *len = 0;
    if (st->version < 3)
        return CL_OK;
    rc = sql_prepare(&st->db, &q,
                     "SELECT epoch, blob FROM training_checkpoints WHERE training = :training",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":training", training);
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK && row) {
        rc = col_blob_copy(st, &q, 1, blob, len, err);
        if (rc == CL_OK) {
            *epoch = (int)sql_col_int64(&q, 0);
            *found = 1;
        }
    }
    sql_finalize(&q);
    return rc;
}

/* Why training could not be taken up: what it is now (read in the
 * resume's transaction) */
static int resume_refused(cl_store *st, int64_t training, cl_err *err)
{
    sql_stmt q;
    char state[16] = "";
    long pid = 0;
    int row = 0;
    if (sql_prepare(&st->db, &q, "SELECT state, pid FROM trainings WHERE id = :id", NULL) ==
        CL_OK) {
        sql_bind_int64(&q, ":id", training);
        if (sql_step(&q, &row, NULL) == CL_OK && row) {
            snprintf(state, sizeof state, "%s", sql_col_text(&q, 0) ? sql_col_text(&q, 0) : "");
            pid = (long)sql_col_int64(&q, 1);
        }
        sql_finalize(&q);
    }
    if (!row)
        return ERR_SET(err, CL_ERR_ARG, "%s: no training %lld", st->db.path, (long long)training);
    if (!strcmp(state, "done"))
        return ERR_SET(err, CL_ERR_ARG, "%s: training %lld is done (by cellar process %ld)",
                       st->db.path, (long long)training, pid);
    return ERR_SET(err, CL_ERR_ARG,
                   "%s: training %lld was taken up meanwhile by cellar process %ld (%s there)",
                   st->db.path, (long long)training, pid, state);
}

int store_training_resume(cl_store *st, int64_t training, long was_pid, long pid, int epoch,
                          cl_err *err)
{
    sql_stmt q[2] = {{0}, {0}};
    int rc = sql_prepare(&st->db, &q[0],
                         "UPDATE trainings SET state = 'running', pid = :pid, reason = NULL, "
                         "finished = NULL WHERE id = :id AND state != 'done' AND pid IS :was",
                         err);
    if (rc == CL_OK)
        rc = sql_prepare(&st->db, &q[1],
                         "DELETE FROM training_epochs WHERE training = :id AND epoch > :epoch",
                         err);
    if (rc == CL_OK)
        rc = sql_begin(&st->db, err);
    if (rc == CL_OK) {
        sql_bind_int64(&q[0], ":pid", (int64_t)pid);
        sql_bind_int64(&q[0], ":id", training);
        sql_bind_int64(&q[0], ":was", (int64_t)was_pid);
        rc = sql_run(&q[0], err);
        if (rc == CL_OK && sqlite3_changes(st->db.db) != 1)
            rc = resume_refused(st, training, err);
        if (rc == CL_OK) {
            sql_bind_int64(&q[1], ":id", training);
            sql_bind_int64(&q[1], ":epoch", epoch);
            rc = sql_run(&q[1], err);
        }
        if (rc == CL_OK)
            rc = sql_commit(&st->db, err);
        else
            sql_rollback(&st->db);
    }
    sql_finalize(&q[0]);
    sql_finalize(&q[1]);
    return rc;
}

/* ---- device seconds ---- */

/* Adds to a phase's total in one transaction (INSERT OR IGNORE + UPDATE,
 * rather than an upsert, which older SQLite lacks). */
int store_seconds_add(cl_store *st, const char *phase, double seconds, cl_err *err)
{
    sql_stmt q[2] = {{0}, {0}};
    int rc;
    if (!phase || !isfinite(seconds))
        return ERR_SET(err, CL_ERR_ARG, "store_seconds_add: needs a phase and a finite number");
    rc = sql_prepare(&st->db, &q[0],
                     "INSERT OR IGNORE INTO device_seconds(phase, seconds) VALUES(:phase, 0)",
                     err);
    if (rc == CL_OK)
        rc = sql_prepare(&st->db, &q[1],
                         "UPDATE device_seconds SET seconds = seconds + :seconds "
                         "WHERE phase = :phase",
                         err);
    if (rc == CL_OK)
        rc = sql_begin(&st->db, err);
    if (rc == CL_OK) {
        sql_bind_text(&q[0], ":phase", phase);
        rc = sql_run(&q[0], err);
        if (rc == CL_OK) {
            sql_bind_double(&q[1], ":seconds", seconds);
            sql_bind_text(&q[1], ":phase", phase);
            rc = sql_run(&q[1], err);
        }
        if (rc == CL_OK)
            rc = sql_commit(&st->db, err);
        else
            sql_rollback(&st->db);
    }
    sql_finalize(&q[0]);
    sql_finalize(&q[1]);
    return rc;
}

/* A phase never added to reads 0. */
int store_seconds_get(cl_store *st, const char *phase, double *seconds, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    if (!phase)
        return ERR_SET(err, CL_ERR_ARG, "store_seconds_get: no phase given");
    rc = sql_prepare(&st->db, &q, "SELECT seconds FROM device_seconds WHERE phase = :phase", err);
    if (rc)
        return rc;
    sql_bind_text(&q, ":phase", phase);
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK)
        *seconds = row ? sql_col_double(&q, 0) : 0.0;
    sql_finalize(&q);
    return rc;
}

/* ---- checkpoints ---- */

int store_checkpoint_save(cl_store *st, int64_t trials_done, const void *blob, size_t len,
                          cl_err *err)
{
    sql_stmt q;
    int rc;
    if (len > 0 && !blob)
        return ERR_SET(err, CL_ERR_ARG, "store_checkpoint_save: no data for %zu bytes", len);
    rc = sql_prepare(&st->db, &q,
                     "INSERT INTO checkpoints(trials_done, time, blob) "
                     "VALUES(:trials_done, :time, :blob)",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":trials_done", trials_done);
    sql_bind_double(&q, ":time", wall_now());
    sql_bind_blob(&q, ":blob", blob, len);
    rc = sql_run(&q, err);
    sql_finalize(&q);
    if (rc)
        return rc;
    /* Only the newest checkpoints are ever read; a controller's is a few
     * MB, so keep STORE_CHECKPOINTS_KEPT of them, not one per trial. */
    rc = sql_prepare(&st->db, &q,
                     "DELETE FROM checkpoints WHERE id <= "
                     "(SELECT max(id) FROM checkpoints) - :keep",
                     err);
    if (rc)
        return rc;
    sql_bind_int64(&q, ":keep", STORE_CHECKPOINTS_KEPT);
    rc = sql_run(&q, err);
    sql_finalize(&q);
    return rc;
}

/* When found, *blob is a malloc'd copy (never NULL, even for 0 bytes). */
int store_checkpoint_latest(cl_store *st, int64_t *trials_done, unsigned char **blob,
                            size_t *len, int *found, cl_err *err)
{
    sql_stmt q;
    int row, rc;
    *found = 0;
    *blob = NULL;
    *len = 0;
    rc = sql_prepare(&st->db, &q,
                     "SELECT trials_done, blob FROM checkpoints ORDER BY id DESC LIMIT 1", err);
    if (rc)
        return rc;
    rc = sql_step(&q, &row, err);
    if (rc == CL_OK && row) {
        rc = col_blob_copy(st, &q, 1, blob, len, err);
        if (rc == CL_OK) {
            *trials_done = sql_col_int64(&q, 0);
            *found = 1;
        }
    }
    sql_finalize(&q);
    return rc;
}
