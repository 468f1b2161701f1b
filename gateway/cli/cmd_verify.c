/*
 * clearway verify: the daemon's verification policy, from the shell. The
 * certificates given are registered for the envelope's From party, exactly
 * as a partner's certificates are in the daemon's configuration.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define CERTS_MAX 16

static void verify_usage(FILE *f)
{
    fprintf(f, "usage: clearway verify --cert C [--cert C2 ...] [--legacy-sha1]\n"
               "                       [--skew SECONDS] [--no-schema] ENVELOPE.xml\n"
               "\n"
               "Verifies ENVELOPE.xml (\"-\" reads stdin) with the daemon's policy\n"
               "(docs/security.md): the certificates C... are the From party's registered\n"
               "ones (several during a rollover); KeyInfo never chooses the key.\n"
               "--legacy-sha1 also accepts RSA-SHA1; --skew sets the Timestamp window\n"
               "(default 300 s). Prints one line: \"valid ...\" or \"invalid <problem>: ...\".\n"
               "Exit: 0 valid, 1 invalid, 2 usage, 3 unreadable file or certificate.\n");
}

typedef struct verify_args {
    const char *certs[CERTS_MAX];
    size_t cert_count;
    unsigned flags;
    uint64_t skew_s;
    int no_schema;
    const char *path;
} verify_args_t;

static int verify_parse(verify_args_t *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "cert", required_argument, NULL, 'c' }, { "legacy-sha1", no_argument, NULL, 'l' },
        { "skew", required_argument, NULL, 's' }, { "no-schema", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->skew_s = CW_SEC_SKEW_S_DEFAULT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (a->cert_count == CERTS_MAX) {
                fprintf(stderr, "clearway verify: at most %d --cert\n", CERTS_MAX);
                return CW_CLI_USAGE;
            }
            a->certs[a->cert_count++] = optarg;
            break;
        case 'l':
            a->flags |= CW_SEC_PARTNER_LEGACY_SHA1;
            break;
        case 's':
            if (cw_parse_uint(optarg, 0, 86400u * 366u, &a->skew_s) < 0) {
                fprintf(stderr, "clearway verify: bad --skew %s\n", optarg);
                return CW_CLI_USAGE;
            }
            break;
        case 'n':
            a->no_schema = 1;
            break;
        case 'h':
            verify_usage(stdout);
            return -1;
        default:
            verify_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || a->cert_count == 0) {
        verify_usage(stderr);
        return CW_CLI_USAGE;
    }
    a->path = argv[optind];
    return CW_CLI_OK;
}

static void print_invalid(cw_sec_problem_e problem, const char *detail)
{
    printf("invalid %s: %s\n", cw_sec_problem_slug(problem), detail);
}

int cw_cli_verify(int argc, char **argv)
{
    verify_args_t a;
    cw_conf_limits_t limits;
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_sec_schemas_t *schemas = NULL;
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;
    cw_sec_problem_e problem;
    cw_msg_header_t hdr;
    cw_error_t err;
    xmlDoc *doc = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;

    rc = verify_parse(&a, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc < 0 ? CW_CLI_OK : rc;
    }
    cw_config_limits_default(&limits);
    rc = cw_cli__read_file(&data, &len, a.path, limits.xml_bytes_max);
    if (rc == CW_E2BIG) {
        print_invalid(CW_SEC_PROBLEM_XML_TOO_LARGE, "larger than the XML size limit");
        rc = CW_CLI_INVALID;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "clearway verify: cannot read %s\n", a.path);
        rc = CW_CLI_IO;
        goto out;
    }
    rc = CW_CLI_INVALID;
    if (cw_sec_xml_parse(&doc, data, len, &limits, &problem, &err) < 0) {
        print_invalid(problem, err.msg);
        goto out;
    }
    /* From names the party whose certificates the user gave us. */
    if (cw_msg_header_read(&hdr, doc, &err) < 0) {
        print_invalid(CW_SEC_PROBLEM_HEADER_INVALID, err.msg);
        goto out;
    }
    partner = (cw_sec_partner_conf_t){ hdr.from, a.certs, a.cert_count, a.flags };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "clearway-cli";
    conf.partners = &partner;
    conf.partner_count = 1;
    if (cw_sec_keys_new(&keys, &conf, &err) < 0
        || (!a.no_schema && cw_sec_schemas_new(&schemas, &err) < 0)) {
        fprintf(stderr, "clearway verify: %s\n", err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    opts.skew_s = (uint32_t)a.skew_s;
    opts.schemas = schemas;
    if (cw_sec_envelope_verify(&v, keys, doc, &opts, &err) < 0) {
        print_invalid(v.problem, err.msg);
        goto out;
    }
    printf("valid from=%s to=%s message-id=%s cert=%s\n", hdr.from, hdr.to, hdr.message_id,
           a.certs[v.cert_index]);
    rc = CW_CLI_OK;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_sec_schemas_free(schemas);
    cw_sec_keys_unref(keys);
    cw_free(data);
    return rc;
}
