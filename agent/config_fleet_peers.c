/* config_fleet_peers.c — fleet.peers of healerd.conf: where this agent listens for its peers'
 * knowledge, its CURVE key pair, the peers (name, endpoint, public key) and how much their
 * counters weigh. Key files are read here, so a bad key is a FILE:LINE error at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "config_int.h"

#define PEERS_MAX 256

void cfg_fleet_peers_free(fleet_peers_conf *p)
{
    free(p->listen);
    for (size_t i = 0; i < p->n_peer; i++) {
        free(p->peer[i].name);
        free(p->peer[i].endpoint);
    }
    free(p->peer);
    memset(p, 0, sizeof *p);
}

static bool z85_char(char c)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    return c && strchr(alphabet, c) != NULL;
}

/* "tcp://HOST:PORT" with a port 1..65535 (HOST may be "*" or an address; ZeroMQ resolves it). */
static bool endpoint_ok(const char *v)
{
    if (strncmp(v, "tcp://", 6) != 0 || strpbrk(v, " \t\r\n"))
        return false;
    const char *colon = strrchr(v + 6, ':');
    if (!colon || colon == v + 6)
        return false;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    return end && *end == '\0' && end != colon + 1 && port >= 1 && port <= 65535;
}

/* Reads a key file: 40 Z85 characters, then at most white space. secret: the file must not be
 * readable by group or others (the key is this node's identity). */
static bool read_key(rctx *r, const config_setting_t *s, const char *path, bool secret,
                     char out[41])
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        cfg_report(r, s, "%s: expected a string, got %s", path,
                   cfg_type_name(config_setting_type(s)));
        return false;
    }
    const char *file = config_setting_get_string(s);
    char full[4096];
    if (file[0] != '/' && r->include_dir && r->include_dir[0])
        snprintf(full, sizeof full, "%s/%s", r->include_dir, file);
    else
        snprintf(full, sizeof full, "%s", file);
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        cfg_report(r, s, "%s: cannot open \"%s\": %s (make a pair with healerd --fleet-keygen DIR)",
                   path, full, strerror(errno));
        return false;
    }
    struct stat st;
    char buf[128];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        cfg_report(r, s, "%s: \"%s\" is not a readable regular file", path, full);
        return false;
    }
    if (secret && (st.st_mode & 077)) {
        cfg_report(r, s, "%s: \"%s\" may be read by others (mode %04o); chmod 600 it", path, full,
                   (unsigned)(st.st_mode & 07777));
        return false;
    }
    buf[n] = '\0';
    size_t len = 0;
    while (len < (size_t)n && z85_char(buf[len]))
        len++;
    bool rest_blank = strspn(buf + len, " \t\r\n") == (size_t)n - len;
    uint8_t bin[32];
    buf[len] = '\0'; /* zmq_z85_decode reads up to the NUL */
    if (len != 40 || !rest_blank || !zmq_z85_decode(bin, buf)) {
        cfg_report(r, s, "%s: \"%s\" does not hold a CURVE key (40 Z85 characters)", path, full);
        return false;
    }
    memcpy(out, buf, 40);
    out[40] = '\0';
    return true;
}

static void read_peer(rctx *r, fleet_peers_conf *p, const config_setting_t *g, size_t idx)
{
    char path[96];
    snprintf(path, sizeof path, "fleet.peers.peer.[%zu]", idx);
    if (!cfg_want_group(r, g, path))
        return;
    fleet_peer_conf pc = {0};
    bool have_key = false;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(s);
        char kp[160];
        snprintf(kp, sizeof kp, "%s.%s", path, key);
        if (strcmp(key, "name") == 0) {
            if (cfg_read_str(r, s, kp, &pc.name) && !cfg_fleet_name_ok(pc.name)) {
                cfg_report(r, s, "%s: \"%s\" must be 1 to 64 letters, digits, '.', '-' or '_'",
                           kp, pc.name);
                free(pc.name);
                pc.name = NULL;
            }
        } else if (strcmp(key, "endpoint") == 0) {
            if (cfg_read_str(r, s, kp, &pc.endpoint) && !endpoint_ok(pc.endpoint)) {
                cfg_report(r, s, "%s: \"%s\" is not tcp://HOST:PORT", kp, pc.endpoint);
                free(pc.endpoint);
                pc.endpoint = NULL;
            }
        } else if (strcmp(key, "public_key_file") == 0) {
            have_key = read_key(r, s, kp, false, pc.public_key);
        } else {
            cfg_unknown_key(r, s, kp, "name, endpoint, public_key_file");
        }
    }
    const char *missing = !config_setting_get_member(g, "name")       ? "name"
                          : !config_setting_get_member(g, "endpoint") ? "endpoint"
                          : !config_setting_get_member(g, "public_key_file") ? "public_key_file"
                                                                             : NULL;
    if (missing)
        cfg_report(r, g, "%s: %s is required", path, missing);
    for (size_t i = 0; pc.name && i < p->n_peer; i++)
        if (strcmp(p->peer[i].name, pc.name) == 0) {
            cfg_report(r, config_setting_get_member(g, "name"),
                       "%s.name: \"%s\" names another peer already", path, pc.name);
            free(pc.name);
            pc.name = NULL;
        }
    if (!pc.name || !pc.endpoint || !have_key) {
        free(pc.name);
        free(pc.endpoint);
        return;
    }
    p->peer[p->n_peer++] = pc;
}

void cfg_read_fleet_peers(rctx *r, fleet_peers_conf *p, const config_setting_t *sec)
{
    if (!cfg_want_group(r, sec, "fleet.peers"))
        return;
    cfg_fleet_peers_free(p);
    p->enabled = 1;
    p->knowledge_weight = 0.5;
    p->interval_s = 10;
    bool have_secret = false, have_public = false;
    char pub_file[41] = "";
    const config_setting_t *peers = NULL;
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        char kp[128];
        snprintf(kp, sizeof kp, "fleet.peers.%s", key);
        if (strcmp(key, "listen") == 0) {
            if (cfg_read_str(r, s, kp, &p->listen) && !endpoint_ok(p->listen))
                cfg_report(r, s, "%s: \"%s\" is not tcp://ADDRESS:PORT", kp, p->listen);
        } else if (strcmp(key, "secret_key_file") == 0) {
            have_secret = read_key(r, s, kp, true, p->secret_key);
        } else if (strcmp(key, "public_key_file") == 0) {
            have_public = read_key(r, s, kp, false, pub_file);
        } else if (strcmp(key, "knowledge_weight") == 0) {
            cfg_read_double(r, s, kp, 0, 100, &p->knowledge_weight);
        } else if (strcmp(key, "interval_seconds") == 0) {
            cfg_read_double(r, s, kp, 0.1, 86400, &p->interval_s);
        } else if (strcmp(key, "peer") == 0) {
            if (!cfg_is_list_like(s))
                cfg_report(r, s, "%s: expected a list ( { ... }, ... ), got %s", kp,
                           cfg_type_name(config_setting_type(s)));
            else
                peers = s;
        } else {
            cfg_unknown_key(r, s, kp, "listen, secret_key_file, public_key_file, "
                                      "knowledge_weight, interval_seconds, peer");
        }
    }
    if (!config_setting_get_member(sec, "listen"))
        cfg_report(r, sec, "fleet.peers: listen is required (e.g. \"tcp://0.0.0.0:9477\")");
    if (!config_setting_get_member(sec, "secret_key_file"))
        cfg_report(r, sec, "fleet.peers: secret_key_file is required "
                           "(make a pair with healerd --fleet-keygen DIR)");
    if (have_secret) {
        if (zmq_curve_public(p->public_key, p->secret_key) != 0)
            cfg_report(r, config_setting_get_member(sec, "secret_key_file"),
                       "fleet.peers.secret_key_file: not a CURVE secret key");
        else if (have_public && strcmp(pub_file, p->public_key) != 0)
            cfg_report(r, config_setting_get_member(sec, "public_key_file"),
                       "fleet.peers.public_key_file: not the public half of secret_key_file");
    }
    if (!peers)
        return;
    int np = config_setting_length(peers);
    if (np > PEERS_MAX) {
        cfg_report(r, peers, "fleet.peers.peer: %d peers, at most %d", np, PEERS_MAX);
        return;
    }
    p->peer = calloc(np ? (size_t)np : 1, sizeof *p->peer);
    if (!p->peer) {
        cfg_report(r, peers, "fleet.peers.peer: out of memory");
        return;
    }
    for (int i = 0; i < np; i++)
        read_peer(r, p, config_setting_get_elem(peers, (unsigned)i), (size_t)i);
}
