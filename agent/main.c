/* main.c — healerd's command line (CONTRACT.md): parses the options and hands over to agent.c.
 * Exit status: 0 fine, 1 runtime failure, 2 bad usage or bad config. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "fleet_keygen.h"
#include "gentoken.h"
#include "log.h"
#include "healer/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: healerd [-c FILE] [--dry-run] [--once] [--check-config] [--version]\n"
            "       healerd --gen-token [PATH] [--force]\n"
            "       healerd --fleet-keygen DIR [--force]\n"
            "  -c, --config FILE  config file (default %s)\n"
            "      --dry-run      plan and report every action, change nothing\n"
            "      --once         one detection and healing cycle, a summary, then exit\n"
            "      --check-config validate the config and every enabled plugin, then exit\n"
            "      --version      print the version and the plugin ABI version\n"
            "      --gen-token    write a new HTTP token to PATH (default %s), mode 0600;\n"
            "                     an existing file is kept unless --force\n"
            "      --fleet-keygen write a CURVE key pair for fleet.peers to DIR/fleet.key\n"
            "                     (mode 0600) and DIR/fleet.pub\n"
            "  -h, --help         this text\n",
            HEALERD_DEFAULT_CONFIG, HEALERD_DEFAULT_TOKEN);
}

int main(int argc, char **argv)
{
    enum { OPT_DRY_RUN = 256, OPT_ONCE, OPT_CHECK, OPT_VERSION, OPT_GEN_TOKEN,
           OPT_FORCE, OPT_FLEET_KEYGEN };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "once", no_argument, NULL, OPT_ONCE },
        { "check-config", no_argument, NULL, OPT_CHECK },
        { "version", no_argument, NULL, OPT_VERSION },
        { "gen-token", no_argument, NULL, OPT_GEN_TOKEN },
        { "force", no_argument, NULL, OPT_FORCE },
        { "fleet-keygen", required_argument, NULL, OPT_FLEET_KEYGEN },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    /* before the first line: priority prefixes if stderr is the journal, else timestamps */
    log_detect_journal();
    agent_opts o = { .config_path = HEALERD_DEFAULT_CONFIG };
    int check = 0, gen_token = 0, force = 0, c;
    const char *keygen_dir = NULL;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o.config_path = optarg; break;
        case OPT_DRY_RUN: o.force_dry_run = 1; break;
        case OPT_ONCE: o.once = 1; break;
        case OPT_CHECK: check = 1; break;
        case OPT_GEN_TOKEN: gen_token = 1; break;
        case OPT_FORCE: force = 1; break;
        case OPT_FLEET_KEYGEN: keygen_dir = optarg; break;
        case OPT_VERSION:
            printf("healerd %s (plugin ABI %d.%d)\n", HEALERD_VERSION, HEALER_ABI_MAJOR,
                   HEALER_ABI_MINOR);
            return EXIT_OK;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (gen_token) {
        /* One optional operand: where the token goes (the http.token_file of the config). */
        const char *path = optind < argc ? argv[optind++] : HEALERD_DEFAULT_TOKEN;
        if (optind < argc) {
            fprintf(stderr, "healerd: unexpected argument '%s'\n", argv[optind]);
            usage(stderr);
            return EXIT_USAGE;
        }
        return gentoken_write(path, force, stderr) == 0 ? EXIT_OK : EXIT_RUNTIME;
    }
    if (keygen_dir) {
        if (optind < argc) {
            fprintf(stderr, "healerd: unexpected argument '%s'\n", argv[optind]);
            usage(stderr);
            return EXIT_USAGE;
        }
        return fleet_keygen(keygen_dir, force, stderr) == 0 ? EXIT_OK : EXIT_RUNTIME;
    }
    if (force) {
        fprintf(stderr, "healerd: --force goes with --gen-token or --fleet-keygen\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "healerd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (check)
        return agent_check_config(o.config_path, stdout, stderr);

    agent_block_signals();
    int code;
    agent *a = agent_open(&o, &code);
    if (!a)
        return code;
    code = o.once ? agent_once(a, stdout) : agent_run(a);
    agent_close(a);
    return code;
}
