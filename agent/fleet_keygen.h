/* fleet_keygen.h — `healerd --fleet-keygen DIR`: a CURVE key pair for fleet.peers, the secret
 * readable by its owner only. */
#ifndef HEALERD_FLEET_KEYGEN_H
#define HEALERD_FLEET_KEYGEN_H

#include <stdio.h>

/* Writes DIR/fleet.key (the secret, 40 Z85 characters and a newline, mode 0600) and
 * DIR/fleet.pub (the public half, mode 0644, the file peers name in their peer.public_key_file).
 * Existing files are refused unless force (then replaced by rename, never half written).
 * Problems go to err as "healerd: PATH: why". Returns 0, or 1 on failure. */
int fleet_keygen(const char *dir, int force, FILE *err);

#endif
