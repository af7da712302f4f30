/* jsonl.h — the checksummed JSON-lines files of state_dir (the undo journal, the change log): one
 * "CRC32HEX JSON\n" line per record, written whole and synced or cut back, read back with a torn
 * last line or a damaged line named (FILE:LINE) and skipped. */
#ifndef AGENT_JSONL_H
#define AGENT_JSONL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The record as its line (checksum, compact JSON, newline), malloc'd; NULL if o cannot be
 * encoded (out of memory, a string jansson refuses). */
char *jsonl_line(json_t *o, size_t *len);
/* write(2) until all of buf is written (EINTR retried). 0, or -1 with errno. */
int jsonl_write_all(int fd, const char *buf, size_t n);
/* Appends o's line to fd and syncs it. On failure the file is cut back to *file_bytes (so the
 * next line never lands on half of one; a failed cut is logged as who: path) and -1 is returned
 * with errno (EINVAL: o could not be encoded); on success *file_bytes grows by the line, also
 * stored in *line_bytes when given. */
int jsonl_append(int fd, const char *path, const char *who, json_t *o, size_t *file_bytes,
                 size_t *line_bytes);
/* A line (without its newline) checked and parsed: the JSON object, or NULL and *why. */
json_t *jsonl_parse(const char *line, size_t n, const char **why);
/* Reads all of fd from its start (at most max bytes; more is left unread) and hands each whole
 * line to apply (which says why it refused one). A torn last line and each refused line are
 * logged as who: path:LINE and counted. Returns that count, or -1 and err when fd cannot be read;
 * *file_bytes is the size read. */
typedef int (*jsonl_apply_fn)(void *ud, const char *line, size_t n, const char **why);
int jsonl_load(int fd, const char *path, const char *who, size_t max, size_t *file_bytes,
               jsonl_apply_fn apply, void *ud, char *err, size_t errlen);

/* Replaces the file name in the directory dfd (dir: its path, for messages) by a new one holding
 * the n records record(ud, i) gives (each a new reference, NULL to stop with an error): written
 * to name.tmp (a leftover or a planted link removed first, O_EXCL|O_NOFOLLOW), synced, renamed
 * over name, the directory synced. Returns the new file's descriptor (open for appending) and
 * its size in *bytes, or -1 (logged as who; the old file is left as it was, still in use). */
typedef json_t *(*jsonl_record_fn)(void *ud, size_t i);
int jsonl_rewrite(int dfd, const char *dir, const char *name, const char *who, size_t n,
                  jsonl_record_fn record, void *ud, size_t *bytes);

#endif
