/*
 * clearway adapter: try a partner adapter on a file, without a node.
 *
 *   clearway adapter list
 *   clearway adapter test NAME FILE [--catalog FILE] [--partner ID] [--xslt-dir DIR]
 *                                   [--xslt FILE.xsl] [--transport-mode MODE] [--rules DIR]
 *   clearway adapter out NAME FILE [--partner ID] [--xslt-dir DIR] [--xslt FILE.xsl]
 *
 * `test` prints each canonical document the adapter makes from FILE, then
 * one line per item that could not be translated (item, line, field,
 * message). `out` reads a canonical consignment and prints what the
 * adapter's output side makes of it (for ceb621: the unsigned CEB621).
 * With --rules, each document is followed by its assessment in one line
 * (lane, findings, profile), as the checks see it without a ledger.
 */
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "adapters.h"
#include "checks.h"
#include "internal.h"

/* The CLI reads at most this much; the adapter's own limit applies below it. */
#define ADAPTER_FILE_BYTES_MAX (64u * 1024u * 1024u)

typedef struct adapter_opts {
    const char *cmd;
    const char *name;
    const char *file;
    cw_adapter_conf_t conf;
    const char *rules_dir;    /* --rules, or NULL */
    cw_checks_rules_t *rules; /* loaded from rules_dir */
} adapter_opts_t;

static void adapter_usage(FILE *f)
{
    fprintf(
        f,
        "usage: clearway adapter list\n"
        "       clearway adapter test NAME FILE [--catalog FILE] [--partner ID]"
        " [--xslt-dir DIR]\n"
        "                                    [--xslt FILE.xsl] [--transport-mode MODE]\n"
        "                                    [--rules DIR]\n"
        "       clearway adapter out NAME FILE [--partner ID] [--xslt-dir DIR] [--xslt FILE.xsl]\n"
        "\n"
        "test: translate FILE (a partner's native document) into canonical\n"
        "      consignments and print them, then the items that failed.\n"
        "out:  translate FILE (a canonical consignment) into the adapter's\n"
        "      destination format (ceb621: unsigned CEB621Message).\n"
        "NAME xslt runs your own stylesheet: --xslt-dir DIR --xslt FILE.xsl.\n"
        "--transport-mode (air, road, rail, sea, post): for consignments that name\n"
        "      none, as a partner's adapter-transport-mode does.\n"
        "--rules DIR: follow each document with its assessment (lane, findings)\n"
        "      under the rules in DIR, dated today, without the ledger's history.\n"
        "Exit: 0 all translated, 1 some items or the whole input failed,\n"
        "      2 usage, 3 unreadable file or adapter configuration.\n");
}

static int parse_args(adapter_opts_t *o, int argc, char **argv)
{
    cw_adapter_conf_t init = CW_ADAPTER_CONF_INIT;
    const char **pos[2];
    int i, npos = 0;

    o->conf = init;
    o->rules_dir = NULL;
    o->rules = NULL;
    o->name = NULL;
    o->file = NULL;
    pos[0] = &o->name;
    pos[1] = &o->file;
    for (i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--catalog") == 0) {
            o->conf.catalog_path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--partner") == 0) {
            o->conf.partner_id = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--rules") == 0
                   && strcmp(argv[1], "test") == 0) {
            o->rules_dir = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--transport-mode") == 0) {
            o->conf.transport_mode = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--xslt-dir") == 0) {
            o->conf.xslt_dir = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--xslt") == 0) {
            /* The generic "xslt" adapter: the stylesheet for this direction. */
            if (strcmp(argv[1], "out") == 0) {
                o->conf.xslt_out = argv[++i];
            } else {
                o->conf.xslt_in = argv[++i];
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "clearway adapter: unknown option '%s'\n", argv[i]);
            return CW_CLI_USAGE;
        } else if (npos < 2) {
            *pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "clearway adapter: unexpected argument '%s'\n", argv[i]);
            return CW_CLI_USAGE;
        }
    }
    if (npos != 2) {
        adapter_usage(stderr);
        return CW_CLI_USAGE;
    }
    o->conf.name = o->name;
    return CW_CLI_OK;
}

static int print_doc(xmlDoc *doc)
{
    xmlChar *text = NULL;
    int len = 0;

    xmlDocDumpFormatMemoryEnc(doc, &text, &len, "UTF-8", 1);
    if (text == NULL) {
        return CW_CLI_INTERNAL;
    }
    fwrite(text, 1, (size_t)len, stdout);
    xmlFree(text);
    return CW_CLI_OK;
}

/*
 * Prints s for the inside of an XML comment: a "--" (a reader's error
 * message may quote the input) gets a space between its dashes. The
 * caller closes the comment after a character of its own.
 */
static void comment_text(const char *s)
{
    int prev = 0;

    for (; *s != '\0'; s++) {
        if (*s == '-' && prev == '-') {
            putchar(' ');
        }
        putchar(*s);
        prev = (unsigned char)*s;
    }
}

/*
 * One line after a document: its assessment under o->rules, dated today,
 * the partner as the sender, as the daemon's inbound pipeline runs it
 * (without the ledger): a document that fails its schema is still
 * assessed (SYN-001) on what could be read; one that cannot be read
 * although valid gets "none" and why. An XML comment, so the output stays
 * a list of documents; finding codes and profile ids never hold "--".
 */
static int print_assessment_line(const adapter_opts_t *o, xmlDoc *doc)
{
    cw_checks_consignment_t model;
    cw_checks_assessment_t *as = NULL;
    cw_checks_context_t ctx;
    xmlNode *root = xmlDocGetRootElement(doc);
    cw_error_t err, verr;
    char today[32];
    size_t i;
    int rc = CW_CLI_OK;

    memset(&model, 0, sizeof(model));
    memset(&ctx, 0, sizeof(ctx));
    cw_error_clear(&err);
    cw_error_clear(&verr);
    if (root == NULL) {
        printf("<!-- assessment: none (no consignment) -->\n");
        goto out;
    }
    ctx.schema_failed = cw_checks_consignment_validate(o->rules, root, &verr) < 0;
    ctx.schema_error = verr.msg;
    if (cw_checks_consignment_read(&model, root, &err) < 0 && !ctx.schema_failed) {
        printf("<!-- assessment: none (");
        comment_text(err.msg);
        printf(") -->\n");
        goto out;
    }
    cw_time_format_utc(today, sizeof(today), cw_time_wall_s());
    if (cw_checks_date_parse(&ctx.reference_date, today) < 0) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    ctx.sender = o->conf.partner_id != NULL ? o->conf.partner_id : "";
    as = cw_malloc(sizeof(*as));
    if (as == NULL || cw_checks_run(as, o->rules, &model, &ctx, NULL, &err) < 0) {
        fprintf(stderr, "clearway adapter: checks: %s\n", as == NULL ? "out of memory" : err.msg);
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    printf("<!-- assessment: lane %s; findings", cw_checks_lane_name(as->lane));
    for (i = 0; i < as->findings_len; i++) {
        printf("%s %s", i > 0 ? "," : "", as->findings[i].code);
    }
    printf("%s; profile %s -->\n", as->findings_len == 0 ? " none" : "",
           as->profile_id[0] != '\0' ? as->profile_id : "none");
out:
    cw_free(as);
    cw_checks_consignment_fini(&model);
    return rc;
}

static int cmd_test(const adapter_opts_t *o, cw_adapter_t *a, const char *data, size_t len)
{
    cw_adapter_result_t res;
    cw_error_t err;
    size_t i;
    int rc, exit_code = CW_CLI_OK;

    cw_error_clear(&err);
    cw_adapter_result_init(&res);
    rc = cw_adapter_translate_in(a, data, len, NULL, &res, &err);
    if (rc < 0) {
        fprintf(stderr, "clearway adapter: %s: %s (%s)\n", o->file, err.msg, cw_err_name(rc));
        exit_code = CW_CLI_INVALID;
        goto out;
    }
    for (i = 0; i < res.doc_count; i++) {
        printf("<!-- document %zu of %zu: item %zu, line %zu -->\n", i + 1, res.doc_count,
               res.docs[i].item + 1, res.docs[i].line);
        if (print_doc(res.docs[i].doc) != CW_CLI_OK
            || (o->rules != NULL && print_assessment_line(o, res.docs[i].doc) != CW_CLI_OK)) {
            exit_code = CW_CLI_INTERNAL;
            goto out;
        }
    }
    for (i = 0; i < res.error_count; i++) {
        printf("error: item %zu, line %zu, field %s: %s\n", res.errors[i].item + 1,
               res.errors[i].line, res.errors[i].field[0] != '\0' ? res.errors[i].field : "-",
               res.errors[i].msg);
    }
    if (res.errors_dropped > 0) {
        printf("error: %zu more errors not shown\n", res.errors_dropped);
    }
    printf("%zu items: %zu translated, %zu failed\n", res.item_count, res.doc_count,
           res.item_count - res.doc_count);
    if (res.error_count > 0) {
        exit_code = CW_CLI_INVALID;
    }
out:
    cw_adapter_result_fini(&res);
    return exit_code;
}

static int cmd_out(const adapter_opts_t *o, cw_adapter_t *a, const char *data, size_t len)
{
    cw_conf_limits_t limits;
    cw_sec_problem_e problem;
    xmlDoc *doc = NULL;
    char *out = NULL;
    size_t out_len = 0;
    const char *media = NULL;
    cw_error_t err;
    int exit_code = CW_CLI_OK;

    cw_error_clear(&err);
    memset(&limits, 0, sizeof(limits));
    limits.xml_bytes_max = CW_LIMIT_XML_BYTES_MAX;
    limits.xml_depth_max = CW_LIMIT_XML_DEPTH_DEFAULT;
    limits.xml_nodes_max = CW_LIMIT_XML_NODES_DEFAULT;
    if (cw_sec_xml_parse(&doc, data, len, &limits, &problem, &err) < 0
        || cw_adapter_translate_out(a, doc, &out, &out_len, &media, &err) < 0) {
        fprintf(stderr, "clearway adapter: %s: %s\n", o->file, err.msg);
        exit_code = CW_CLI_INVALID;
        goto out;
    }
    fwrite(out, 1, out_len, stdout);
out:
    cw_free(out);
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return exit_code;
}

int cw_cli_adapter(int argc, char **argv)
{
    adapter_opts_t o;
    cw_adapter_t *a = NULL;
    cw_error_t err;
    char *data = NULL;
    size_t len = 0, i;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        adapter_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CW_CLI_USAGE : CW_CLI_OK;
    }
    if (strcmp(argv[1], "list") == 0) {
        for (i = 0; i < cw_adapters_registry_count(); i++) {
            printf("%s\n", cw_adapters_registry_at(i)->name);
        }
        return CW_CLI_OK;
    }
    if (strcmp(argv[1], "test") != 0 && strcmp(argv[1], "out") != 0) {
        fprintf(stderr, "clearway adapter: unknown subcommand '%s'\n", argv[1]);
        adapter_usage(stderr);
        return CW_CLI_USAGE;
    }
    o.cmd = argv[1];
    rc = parse_args(&o, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc;
    }
    cw_error_clear(&err);
    if (cw_adapter_new(&a, &o.conf, &err) < 0) {
        fprintf(stderr, "clearway adapter: %s\n", err.msg);
        return err.code == CW_ENOENT ? CW_CLI_USAGE : CW_CLI_IO;
    }
    if (o.rules_dir != NULL && cw_checks_rules_load(&o.rules, o.rules_dir, &err) < 0) {
        fprintf(stderr, "clearway adapter: rules: %s\n", err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    if (cw_cli__read_file(&data, &len, o.file, ADAPTER_FILE_BYTES_MAX) != 0) {
        fprintf(stderr, "clearway adapter: cannot read %s\n", o.file);
        rc = CW_CLI_IO;
        goto out;
    }
    rc = strcmp(o.cmd, "test") == 0 ? cmd_test(&o, a, data, len) : cmd_out(&o, a, data, len);
out:
    cw_free(data);
    cw_checks_rules_unref(o.rules);
    cw_adapter_free(a);
    return rc;
}
