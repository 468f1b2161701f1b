/*
 * clearway assess: runs the facilitation checks (docs/checks.md) on a
 * consignment without a daemon and prints the assessment. The input is a
 * Consignment document or an envelope carrying one (its Timestamp is then
 * the default reference date and its From the sender). No history: the
 * stateful checks see no prior consignments.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "checks.h"
#include "internal.h"

/* Largest consignment file accepted. */
#define CW_CLI_ASSESS_BYTES_MAX (16u * 1024u * 1024u)

static void assess_usage(FILE *f)
{
    fprintf(f, "usage: clearway assess [--profile ID] [--date YYYY-MM-DD] [--rules DIR]\n"
               "                       [--sender PARTY] [--format xml|text] CONSIGNMENT.xml\n"
               "\n"
               "Assesses CONSIGNMENT.xml (a urn:clearway:consignment:1 document, or an\n"
               "envelope carrying one; \"-\" reads stdin) against the destination's country\n"
               "profile valid on the reference date and prints the assessment.\n"
               "--profile forces a profile (e.g. EU-2026); --date sets the reference date\n"
               "(default: the envelope Timestamp, else today, UTC); --rules is the rules\n"
               "directory (default: $CLEARWAY_RULES, else ./rules); --sender names the\n"
               "sending party (trusted operators); --format xml (default) or text.\n"
               "Exit: 0 green, 1 yellow or red, 2 usage, 3 unreadable input or rules,\n"
               "5 internal error.\n");
}

typedef struct assess_args {
    const char *profile; /* --profile or NULL */
    const char *date;    /* --date or NULL */
    const char *rules;   /* --rules */
    const char *sender;  /* --sender or NULL */
    int text;            /* --format text */
    const char *path;    /* the input */
} assess_args_t;

static int assess_parse(assess_args_t *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "profile", required_argument, NULL, 'p' },
        { "date", required_argument, NULL, 'd' },
        { "rules", required_argument, NULL, 'r' },
        { "format", required_argument, NULL, 'f' },
        { "sender", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *env = getenv("CLEARWAY_RULES");
    int c;

    memset(a, 0, sizeof(*a));
    a->rules = env != NULL && env[0] != '\0' ? env : "rules";
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            a->profile = optarg;
            break;
        case 'd':
            a->date = optarg;
            break;
        case 'r':
            a->rules = optarg;
            break;
        case 's':
            a->sender = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "xml") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "clearway assess: --format is xml or text\n");
                return CW_CLI_USAGE;
            }
            a->text = strcmp(optarg, "text") == 0;
            break;
        case 'h':
            assess_usage(stdout);
            return -1;
        default:
            assess_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        assess_usage(stderr);
        return CW_CLI_USAGE;
    }
    a->path = argv[optind];
    return CW_CLI_OK;
}

/* The consignment element and, for an envelope, its sender and date. */
static xmlNode *consignment_find(xmlDoc *doc, cw_msg_header_t *hdr, int *is_env)
{
    cw_error_t err;

    *is_env = cw_msg_is_envelope(doc);
    if (*is_env) {
        if (cw_msg_header_read(hdr, doc, &err) < 0) {
            memset(hdr, 0, sizeof(*hdr));
        }
        return cw_msg_business_doc(doc);
    }
    return xmlDocGetRootElement(doc);
}

static int reference_date(int32_t *out, const assess_args_t *a, const cw_msg_header_t *hdr)
{
    char today[32];

    if (a->date != NULL) {
        return cw_checks_date_parse(out, a->date);
    }
    /* As the daemon: the UTC day of the Timestamp's instant. */
    if (hdr->timestamp[0] != '\0' && cw_checks_instant_day(out, hdr->timestamp) == 0) {
        return 0;
    }
    cw_time_format_utc(today, sizeof(today), cw_time_wall_s());
    return cw_checks_date_parse(out, today);
}

static int print_assessment(const cw_checks_assessment_t *as, int text)
{
    cw_buf_t buf;
    xmlDoc *doc = NULL;
    xmlNode *node = NULL;
    xmlChar *mem = NULL;
    int len = 0;
    int rc = CW_CLI_OK;

    cw_buf_init(&buf, 1024 * 1024);
    if (text) {
        if (cw_checks_assessment_text(&buf, as) < 0) {
            rc = CW_CLI_INTERNAL;
            goto out;
        }
        fputs(buf.data != NULL ? buf.data : "", stdout);
        goto out;
    }
    doc = xmlNewDoc((const xmlChar *)"1.0");
    if (doc == NULL || cw_checks_assessment_to_xml(&node, as, "cli", doc, NULL) < 0) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    xmlDocSetRootElement(doc, node);
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    if (mem == NULL) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    fwrite(mem, 1, (size_t)len, stdout);
out:
    xmlFree(mem);
    xmlFreeDoc(doc);
    cw_buf_fini(&buf);
    return rc;
}

int cw_cli_assess(int argc, char **argv)
{
    assess_args_t a;
    cw_checks_rules_t *rules = NULL;
    cw_checks_consignment_t model;
    cw_checks_assessment_t *as = NULL;
    cw_checks_context_t ctx;
    cw_conf_limits_t limits;
    cw_msg_header_t hdr;
    cw_sec_problem_e problem;
    cw_error_t err, verr;
    xmlDoc *doc = NULL;
    xmlNode *node;
    char *data = NULL;
    size_t len = 0;
    int is_env = 0;
    int rc;

    memset(&model, 0, sizeof(model));
    memset(&hdr, 0, sizeof(hdr));
    memset(&ctx, 0, sizeof(ctx));
    cw_error_clear(&err);
    cw_error_clear(&verr);
    rc = assess_parse(&a, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc < 0 ? CW_CLI_OK : rc;
    }
    if (cw_checks_rules_load(&rules, a.rules, &err) < 0) {
        fprintf(stderr, "clearway assess: rules: %s\n", err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    rc = cw_cli__read_file(&data, &len, a.path, CW_CLI_ASSESS_BYTES_MAX);
    if (rc != CW_CLI_OK) {
        goto out;
    }
    cw_config_limits_default(&limits);
    if (cw_sec_xml_parse(&doc, data, len, &limits, &problem, &err) < 0) {
        fprintf(stderr, "clearway assess: %s: %s\n", a.path, err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    node = consignment_find(doc, &hdr, &is_env);
    if (node == NULL || cw_checks_consignment_read(&model, node, &err) < 0) {
        fprintf(stderr, "clearway assess: %s: %s\n", a.path,
                node == NULL ? "no consignment" : err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    if (reference_date(&ctx.reference_date, &a, &hdr) < 0) {
        fprintf(stderr, "clearway assess: --date is YYYY-MM-DD\n");
        rc = CW_CLI_USAGE;
        goto out;
    }
    ctx.sender = a.sender != NULL ? a.sender : hdr.from;
    ctx.message_id = hdr.message_id;
    ctx.profile_id = a.profile;
    ctx.schema_failed = cw_checks_consignment_validate(rules, node, &verr) < 0;
    ctx.schema_error = verr.msg;
    as = cw_calloc(1, sizeof(*as));
    if (as == NULL || cw_checks_run(as, rules, &model, &ctx, NULL, &err) < 0) {
        fprintf(stderr, "clearway assess: %s\n", as == NULL ? "out of memory" : err.msg);
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    rc = print_assessment(as, a.text);
    if (rc == CW_CLI_OK && as->lane != CW_CHECKS_LANE_GREEN) {
        rc = CW_CLI_INVALID;
    }
out:
    cw_free(as);
    cw_checks_consignment_fini(&model);
    xmlFreeDoc(doc);
    cw_free(data);
    cw_checks_rules_unref(rules);
    return rc;
}
