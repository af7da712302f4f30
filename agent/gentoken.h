/* gentoken.h — `healerd --gen-token [PATH]`: writes the HTTP bearer token file (http.token_file,
 * /etc/healerd/token by default) readable by its owner only. */
#ifndef HEALERD_GENTOKEN_H
#define HEALERD_GENTOKEN_H

#include <stdio.h>

/* The token's length in bytes of randomness; it is written as twice as many hex digits. */
#define GENTOKEN_BYTES 32

/* Writes a fresh token (GENTOKEN_BYTES from getrandom, hex, one line) to path, mode 0600.
 * An existing path (file, symlink, anything) is refused unless force is set; with force the
 * new file is written beside it and renamed over it, so a reader sees the old or the new token,
 * never half of one. Problems go to err as "healerd: PATH: why". Returns 0, or 1 on failure. */
int gentoken_write(const char *path, int force, FILE *err);

#endif
