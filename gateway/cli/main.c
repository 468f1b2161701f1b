/*
 * clearway: sign, verify and send Clearway envelopes from the shell, and
 * look after a node's keys and partners.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/xmlversion.h>
#include <xmlsec/version.h>

#include "internal.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: clearway COMMAND [OPTIONS] [ARGS]\n"
               "\n"
               "commands:\n"
               "  version   print versions\n"
               "  sign      wrap a payload in a signed envelope\n"
               "  verify    verify an envelope with the daemon's policy\n"
               "  send      sign if needed, POST to a node, verify its receipt\n"
               "  messages  list, show or retry messages through a node's admin API\n"
               "  adapter   try a partner adapter on a file (list, test, out)\n"
               "  assess    run the facilitation checks on a consignment, no daemon\n"
               "  keys      make a key and CSR, show a certificate or key, check a pair\n"
               "  partners  list a config's node and partner certificates, flag expiry\n"
               "\n"
               "clearway COMMAND --help shows a command's options. Exit codes: docs/cli.md.\n");
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command_t;

static const command_t commands[] = {
    { "sign", cw_cli_sign },         { "verify", cw_cli_verify },     { "send", cw_cli_send },
    { "messages", cw_cli_messages }, { "adapter", cw_cli_adapter },   { "assess", cw_cli_assess },
    { "keys", cw_cli_keys },         { "partners", cw_cli_partners },
};

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: clearway version\nPrints the versions of clearway and its libraries.\n");
        return CW_CLI_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "clearway version: no arguments expected\n");
        return CW_CLI_USAGE;
    }
    printf("clearway %s (libxml2 %s, xmlsec %s, %s, libcurl %s)\n", CW_VERSION,
           LIBXML_DOTTED_VERSION, XMLSEC_VERSION, OpenSSL_version(OPENSSL_VERSION),
           curl_version_info(CURLVERSION_NOW)->version);
    return CW_CLI_OK;
}

int main(int argc, char **argv)
{
    const command_t *cmd = NULL;
    cw_error_t err;
    size_t i;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return CW_CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CW_CLI_OK;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    for (i = 0; i < CW_ARRAY_SIZE(commands) && cmd == NULL; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            cmd = &commands[i];
        }
    }
    if (cmd == NULL) {
        fprintf(stderr, "clearway: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return CW_CLI_USAGE;
    }
    /* Process-wide library set-up, once, before any work (STYLE.md rule 47). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "clearway: libcurl initialisation failed\n");
        return CW_CLI_INTERNAL;
    }
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "clearway: %s\n", err.msg);
        curl_global_cleanup();
        return CW_CLI_INTERNAL;
    }
    rc = cmd->run(argc - 1, argv + 1);
    cw_sec_lib_fini();
    curl_global_cleanup();
    return rc;
}
