/*
 * clearway sign: wrap a business document into a signed envelope.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void sign_usage(FILE *f)
{
    fprintf(f, "usage: clearway sign --key K --cert C --from P --to Q --service S --action A\n"
               "                     [--conversation-id ID] [--message-id ID]\n"
               "                     [--ref-to-message-id ID] [--original-sender P] PAYLOAD.xml\n"
               "\n"
               "Wraps the business document in PAYLOAD.xml (\"-\" reads stdin) into an envelope\n"
               "from P to Q, signs it with key K (certificate C goes into KeyInfo) and writes\n"
               "it to stdout. The message id defaults to a new UUID, the conversation id to\n"
               "the message id, the timestamp to now.\n"
               "Exit: 0 written, 1 payload refused, 2 usage, 3 unreadable file or key.\n");
}

int cw_cli_sign(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "key", required_argument, NULL, 'k' },
        { "cert", required_argument, NULL, 'c' },
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "service", required_argument, NULL, 's' },
        { "action", required_argument, NULL, 'a' },
        { "conversation-id", required_argument, NULL, 'C' },
        { "message-id", required_argument, NULL, 'm' },
        { "ref-to-message-id", required_argument, NULL, 'r' },
        { "original-sender", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    cw_cli_envelope_opts_t o;
    cw_conf_limits_t limits;
    char *payload = NULL;
    char *out = NULL;
    size_t len = 0;
    size_t out_len = 0;
    int c;
    int rc = CW_CLI_OK;

    memset(&o, 0, sizeof(o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.key = optarg;
            break;
        case 'c':
            o.cert = optarg;
            break;
        case 'f':
            o.from = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 's':
            o.service = optarg;
            break;
        case 'a':
            o.action = optarg;
            break;
        case 'C':
            o.conversation_id = optarg;
            break;
        case 'm':
            o.message_id = optarg;
            break;
        case 'r':
            o.ref_to_message_id = optarg;
            break;
        case 'o':
            o.original_sender = optarg;
            break;
        case 'h':
            sign_usage(stdout);
            return CW_CLI_OK;
        default:
            sign_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || o.key == NULL || o.cert == NULL || o.from == NULL || o.to == NULL
        || o.service == NULL || o.action == NULL) {
        sign_usage(stderr);
        return CW_CLI_USAGE;
    }
    cw_config_limits_default(&limits);
    if (cw_cli__read_file(&payload, &len, argv[optind], limits.xml_bytes_max) < 0) {
        fprintf(stderr, "clearway sign: cannot read %s\n", argv[optind]);
        rc = CW_CLI_IO;
        goto out;
    }
    rc = cw_cli__envelope_make(&out, &out_len, &o, payload, len);
    if (rc != CW_CLI_OK) {
        goto out;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        rc = CW_CLI_IO;
        goto out;
    }
out:
    cw_free(payload);
    cw_free(out);
    return rc;
}
