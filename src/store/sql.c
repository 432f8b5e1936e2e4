/* sql.c - statements that keep their SQL for messages, named binds that
 * fail on unknown names, SQLite's codes turned into cl_err, and nested
 * transactions with a depth counter.  See sql.h. */
#include "store/sql.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The statement text as it appears in messages: whitespace runs made one
 * space, and long statements cut at a word boundary with " ..." so that a
 * message stays one readable line. */
static void sql_short(const char *sql, char *out, size_t cap)
{
    size_t n = 0, keep = 60;
    int space = 0;
    if (!sql)
        sql = "(no statement)";
    while (*sql && isspace((unsigned char)*sql))
        sql++;
    for (; *sql && n + 1 < cap; sql++) {
        if (isspace((unsigned char)*sql)) {
            space = 1;
            continue;
        }
        if (space && n > 0)
            out[n++] = ' ';
        space = 0;
        if (n + 1 < cap)
            out[n++] = *sql;
    }
    out[n] = '\0';
    if (n > keep && cap > keep + 5) {
        size_t cut = keep;
        while (cut > keep / 2 && out[cut] != ' ')
            cut--;
        memcpy(out + cut, " ...", 5);
    }
}

static cl_status status_of(int prim)
{
    switch (prim) {
    case SQLITE_NOMEM:
        return CL_ERR_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CL_ERR_FORMAT;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
        return CL_ERR_ARG;
    case SQLITE_MISUSE:
        return CL_ERR_INTERNAL;
    default:
        return CL_ERR_IO;
    }
}

/* The common end of every failure; msg is SQLite's text for it. */
static int fail_msg(sql_db *db, const char *sql, int rc, const char *msg, cl_err *err)
{
    char text[128];
    int prim = rc & 0xff;
    db->last_rc = prim;
    /* Some errors (disk full, I/O) make SQLite roll the transaction back
     * on its own; what the outer levels write next must not autocommit. */
    if (db->depth > 0 && db->db && sqlite3_get_autocommit(db->db))
        db->doomed = 1;
    sql_short(sql, text, sizeof text);
    if (prim == SQLITE_READONLY && db->path) {
        /* the usual cause named, not the statement that met it */
        char dir[4096] = ".";
        const char *slash = strrchr(db->path, '/');
        if (slash)   /* "/j.db": "/" */
            snprintf(dir, sizeof dir, "%.*s", slash == db->path ? 1 : (int)(slash - db->path),
                     db->path);
        if (access(db->path, W_OK) != 0)
            return ERR_SET(err, CL_ERR_IO, "%s: this user may not write the journal (%s)",
                           db->path, strerror(errno));
        if (access(dir, W_OK) != 0)
            return ERR_SET(err, CL_ERR_IO,
                           "%s: this user may not write in the journal's directory %s, where "
                           "SQLite keeps its -wal and -shm files (%s)",
                           db->path, dir, strerror(errno));
        return ERR_SET(err, CL_ERR_IO, "%s: the journal is read-only here (%s)", db->path, msg);
    }
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: the journal is damaged (%s): %s", db->path, msg,
                       text);
    return ERR_SET(err, status_of(prim), "store: %s: %s", text, msg);
}

int sql_fail(sql_db *db, const char *sql, int rc, cl_err *err)
{
    const char *msg = db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc);
    return fail_msg(db, sql, rc, msg, err);
}

int sql_prepare(sql_db *db, sql_stmt *q, const char *sql, cl_err *err)
{
    int rc;
    memset(q, 0, sizeof *q);
    q->db = db;
    q->sql = sql;
    rc = sqlite3_prepare_v2(db->db, sql, -1, &q->s, NULL);
    if (rc != SQLITE_OK) {
        int st = sql_fail(db, sql, rc, err);
        sqlite3_finalize(q->s);
        q->s = NULL;
        return st;
    }
    return CL_OK;
}

void sql_finalize(sql_stmt *q)
{
    if (q && q->s) {
        sqlite3_finalize(q->s);
        q->s = NULL;
    }
}

void sql_reset(sql_stmt *q)
{
    if (q && q->s) {
        sqlite3_reset(q->s);
        sqlite3_clear_bindings(q->s);
    }
    if (q) {
        q->bad_name = NULL;
        q->bad_rc = 0;
    }
}

/* The index of a named parameter, or 0 after noting the failure. */
static int param(sql_stmt *q, const char *name)
{
    int i;
    if (q->bad_name)
        return 0;
    i = sqlite3_bind_parameter_index(q->s, name);
    if (i == 0) {
        q->bad_name = name;
        q->bad_rc = 0;
    }
    return i;
}

static void bound(sql_stmt *q, const char *name, int rc)
{
    if (rc != SQLITE_OK && !q->bad_name) {
        q->bad_name = name;
        q->bad_rc = rc;
    }
}

void sql_bind_textn(sql_stmt *q, const char *name, const char *v, size_t n)
{
    int i = param(q, name);
    if (!i)
        return;
    if (!v)
        bound(q, name, sqlite3_bind_null(q->s, i));
    else if (n > INT_MAX)
        bound(q, name, SQLITE_TOOBIG);
    else
        bound(q, name, sqlite3_bind_text(q->s, i, v, (int)n, SQLITE_STATIC));
}

void sql_bind_text(sql_stmt *q, const char *name, const char *v)
{
    sql_bind_textn(q, name, v, v ? strlen(v) : 0);
}

void sql_bind_int64(sql_stmt *q, const char *name, int64_t v)
{
    int i = param(q, name);
    if (i)
        bound(q, name, sqlite3_bind_int64(q->s, i, (sqlite3_int64)v));
}

void sql_bind_double(sql_stmt *q, const char *name, double v)
{
    int i = param(q, name);
    if (!i)
        return;
    /* SQLite would store NaN as NULL anyway; doing it here says so. */
    if (isnan(v))
        bound(q, name, sqlite3_bind_null(q->s, i));
    else
        bound(q, name, sqlite3_bind_double(q->s, i, v));
}

void sql_bind_null(sql_stmt *q, const char *name)
{
    int i = param(q, name);
    if (i)
        bound(q, name, sqlite3_bind_null(q->s, i));
}

void sql_bind_blob(sql_stmt *q, const char *name, const void *v, size_t len)
{
    int i = param(q, name);
    if (!i)
        return;
    /* sqlite3_bind_blob with a NULL pointer binds NULL, so an empty blob
     * needs its own call to stay an (empty) blob. */
    if (len == 0)
        bound(q, name, sqlite3_bind_zeroblob(q->s, i, 0));
    else if (len > INT_MAX)
        bound(q, name, SQLITE_TOOBIG);
    else
        bound(q, name, sqlite3_bind_blob(q->s, i, v, (int)len, SQLITE_STATIC));
}

/* Refuse work inside a transaction that can only be rolled back. */
static int check_doomed(sql_db *db, const char *sql, cl_err *err)
{
    char text[128];
    if (db->depth > 0 && db->doomed) {
        sql_short(sql, text, sizeof text);
        return ERR_SET(err, CL_ERR_IO,
                       "store: %s: refused, the enclosing transaction was abandoned", text);
    }
    return CL_OK;
}

int sql_step(sql_stmt *q, int *row, cl_err *err)
{
    int rc, st;
    *row = 0;
    if (q->bad_name) {
        const char *name = q->bad_name;
        int brc = q->bad_rc;
        char text[128];
        sql_reset(q);
        if (brc != 0)
            return fail_msg(q->db, q->sql, brc, sqlite3_errstr(brc), err);
        sql_short(q->sql, text, sizeof text);
        return ERR_SET(err, CL_ERR_INTERNAL, "store: %s: no parameter named %s", text, name);
    }
    st = check_doomed(q->db, q->sql, err);
    if (st) {
        sql_reset(q);
        return st;
    }
    rc = sqlite3_step(q->s);
    if (rc == SQLITE_ROW) {
        *row = 1;
        return CL_OK;
    }
    if (rc == SQLITE_DONE)
        return CL_OK;
    st = sql_fail(q->db, q->sql, rc, err);
    sql_reset(q);
    return st;
}

int sql_run(sql_stmt *q, cl_err *err)
{
    int row, st;
    do
        st = sql_step(q, &row, err);
    while (st == CL_OK && row);
    sql_reset(q);
    return st;
}

/* Run each statement of a script; guarded = 0 lets BEGIN/COMMIT/ROLLBACK
 * through while the transaction is doomed. */
static int exec_script(sql_db *db, const char *sql, int guarded, cl_err *err)
{
    const char *tail = sql;
    if (guarded) {
        int st = check_doomed(db, sql, err);
        if (st)
            return st;
    }
    while (tail && *tail) {
        const char *start = tail;
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(db->db, start, -1, &s, &tail);
        if (rc != SQLITE_OK) {
            int st = sql_fail(db, start, rc, err);
            sqlite3_finalize(s);
            return st;
        }
        if (!s) {   /* only whitespace or a comment was left */
            if (tail == start)
                break;
            continue;
        }
        do
            rc = sqlite3_step(s);
        while (rc == SQLITE_ROW);
        if (rc != SQLITE_DONE) {
            int st = sql_fail(db, sqlite3_sql(s), rc, err);
            sqlite3_finalize(s);
            return st;
        }
        sqlite3_finalize(s);
    }
    return CL_OK;
}

int sql_exec(sql_db *db, const char *sql, cl_err *err)
{
    return exec_script(db, sql, 1, err);
}

int sql_query_int64(sql_db *db, const char *sql, int64_t *out, cl_err *err)
{
    sql_stmt q;
    int row, st = sql_prepare(db, &q, sql, err);
    if (st)
        return st;
    st = sql_step(&q, &row, err);
    if (st == CL_OK && !row) {
        char text[128];
        sql_short(sql, text, sizeof text);
        st = ERR_SET(err, CL_ERR_INTERNAL, "store: %s: no result", text);
    }
    if (st == CL_OK)
        *out = sql_col_int64(&q, 0);
    sql_finalize(&q);
    return st;
}

const char *sql_col_text(sql_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q->s, i);
}

double sql_col_double(sql_stmt *q, int i)
{
    if (sqlite3_column_type(q->s, i) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(q->s, i);
}

int64_t sql_col_int64(sql_stmt *q, int i)
{
    return (int64_t)sqlite3_column_int64(q->s, i);
}

int sql_col_is_null(sql_stmt *q, int i)
{
    return sqlite3_column_type(q->s, i) == SQLITE_NULL;
}

int sql_col_dup(sql_stmt *q, int i, char **out, cl_err *err)
{
    const char *v = sql_col_text(q, i);
    size_t n;
    *out = NULL;
    if (!v) {
        /* NULL is either SQL NULL or SQLite failing to make the text */
        if (sqlite3_column_type(q->s, i) != SQLITE_NULL)
            return ERR_SET(err, CL_ERR_NOMEM, "store: out of memory reading a column");
        return CL_OK;
    }
    n = (size_t)sqlite3_column_bytes(q->s, i);
    *out = malloc(n + 1);
    if (!*out)
        return ERR_SET(err, CL_ERR_NOMEM, "store: out of memory (%zu bytes of text)", n + 1);
    memcpy(*out, v, n + 1);
    return CL_OK;
}

int sql_begin(sql_db *db, cl_err *err)
{
    if (db->depth == 0) {
        /* IMMEDIATE takes the write lock now: a deferred transaction that
         * reads first could fail to upgrade under WAL (SQLITE_BUSY_SNAPSHOT)
         * where the busy timeout cannot help. */
        int st = exec_script(db, "BEGIN IMMEDIATE", 0, err);
        if (st)
            return st;
        db->doomed = 0;
    }
    db->depth++;
    return CL_OK;
}

/* Roll back whatever SQLite still has open. */
static void rollback_now(sql_db *db)
{
    if (!sqlite3_get_autocommit(db->db)) {
        int saved = db->last_rc;
        exec_script(db, "ROLLBACK", 0, NULL);
        db->last_rc = saved;
    }
    db->doomed = 0;
}

int sql_commit(sql_db *db, cl_err *err)
{
    int st;
    if (db->depth == 0)
        return ERR_SET(err, CL_ERR_INTERNAL, "store: commit without a transaction");
    if (--db->depth > 0)
        return CL_OK;
    if (db->doomed) {
        rollback_now(db);
        return ERR_SET(err, CL_ERR_IO,
                       "%s: the transaction was abandoned and rolled back, nothing was written",
                       db->path);
    }
    st = exec_script(db, "COMMIT", 0, err);
    if (st)
        rollback_now(db);
    return st;
}

void sql_rollback(sql_db *db)
{
    if (db->depth == 0)
        return;
    if (--db->depth > 0) {
        db->doomed = 1;
        return;
    }
    rollback_now(db);
}
