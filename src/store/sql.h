/* sql.h - the store's thin layer over SQLite: a connection that knows its
 * file name and its transaction depth, and statements that keep their SQL
 * text so that every failure reads "store: INSERT INTO trials ...: UNIQUE
 * constraint failed: ...".  Private to src/store.
 *
 * Binds are by name (":genotype") and fail on an unknown name.  A failed
 * bind is remembered on the statement and reported by the next sql_step,
 * so a run of binds needs no error check of its own.  Strings and blobs
 * are bound without copying: they must stay alive until the statement is
 * reset (sql_reset also clears the bindings, so nothing dangles after). */
#ifndef CELLAR_STORE_SQL_H
#define CELLAR_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/err.h"

typedef struct sql_db {
    sqlite3 *db;
    char *path;      /* the journal's file name, for messages */
    int depth;       /* nesting of sql_begin */
    int doomed;      /* the open transaction can only be rolled back */
    int last_rc;     /* SQLite's code for the latest failure (0 if none) */
} sql_db;

typedef struct sql_stmt {
    sql_db *db;
    sqlite3_stmt *s;
    const char *sql;        /* the text it was prepared from (not owned) */
    const char *bad_name;   /* the first parameter that could not be bound */
    int bad_rc;
} sql_stmt;

/* Prepare one statement; sql must outlive q (the store passes literals). */
int sql_prepare(sql_db *db, sql_stmt *q, const char *sql, cl_err *err);
/* Release q (a zeroed or already finalized q is fine). */
void sql_finalize(sql_stmt *q);
/* Make q ready for its next use: reset it and clear its bindings.  Ends
 * the read transaction a statement that returned rows holds open. */
void sql_reset(sql_stmt *q);

/* Binds by parameter name; NULL strings and NaN numbers bind SQL NULL. */
void sql_bind_text(sql_stmt *q, const char *name, const char *v);
void sql_bind_textn(sql_stmt *q, const char *name, const char *v, size_t n);
void sql_bind_int64(sql_stmt *q, const char *name, int64_t v);
void sql_bind_double(sql_stmt *q, const char *name, double v);
void sql_bind_null(sql_stmt *q, const char *name);
/* A blob of len bytes (len 0 binds an empty blob, not NULL). */
void sql_bind_blob(sql_stmt *q, const char *name, const void *v, size_t len);

/* One step: *row = 1 when a row is ready, 0 when the statement is done.
 * On failure q has been reset and err says why. */
int sql_step(sql_stmt *q, int *row, cl_err *err);
/* Step a statement that returns no rows to its end, then reset it. */
int sql_run(sql_stmt *q, cl_err *err);

/* Run a script of one or more statements (their rows are ignored). */
int sql_exec(sql_db *db, const char *sql, cl_err *err);
/* Run a statement that yields one integer (a PRAGMA, a count). */
int sql_query_int64(sql_db *db, const char *sql, int64_t *out, cl_err *err);

/* Column readers: NULL reads as a NULL pointer, NaN or 0. */
const char *sql_col_text(sql_stmt *q, int i);
double sql_col_double(sql_stmt *q, int i);
int64_t sql_col_int64(sql_stmt *q, int i);
int sql_col_is_null(sql_stmt *q, int i);
/* A malloc'd copy of a text column (NULL stays NULL). */
int sql_col_dup(sql_stmt *q, int i, char **out, cl_err *err);

/* Turn SQLite's code rc for the statement text sql into err: damage to
 * the file names the file, anything else reads "store: SQL: message". */
int sql_fail(sql_db *db, const char *sql, int rc, cl_err *err);

/* Transactions that nest: only the outermost BEGIN and COMMIT reach
 * SQLite.  A rollback at an inner level dooms the whole transaction: until
 * the outermost level ends, statements are refused, and its commit rolls
 * back and reports the loss.  The same happens when SQLite itself ends a
 * transaction after an error (disk full, I/O error). */
int sql_begin(sql_db *db, cl_err *err);
int sql_commit(sql_db *db, cl_err *err);
void sql_rollback(sql_db *db);

#endif
