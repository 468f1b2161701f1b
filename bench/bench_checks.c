/*
 * bench_checks: CPU of the facilitation checks per consignment next to the
 * signed ingest path of the same envelope (safe parse + signature
 * verification + signing of the outgoing copy, cw_sec_*). Target
 * (docs/checks.md): the checks add at most 10 % to that path.
 *
 * The checks step is what the pipeline adds per message: XSD validation of
 * the consignment, reading it into the model, cw_checks_run with a history
 * of prior facts, and the assessment XML appended to the outgoing envelope.
 *
 * usage: bench_checks [--seconds S] [--src DIR] [--items N] [--facts N]
 * Makes a throwaway PKI with DIR/certs/make-dev-pki. One thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "checks.h"
#include "msg.h"
#include "sec.h"

#ifndef CW_SRC_DIR
#define CW_SRC_DIR "."
#endif

typedef struct bench {
    char dir[256];               /* throwaway PKI */
    cw_conf_limits_t limits;     /* default limits */
    cw_sec_keys_t *alice;        /* signs (the sender) */
    cw_sec_keys_t *hub;          /* verifies alice and signs (this node) */
    char *signed_env;            /* the envelope as received */
    cw_checks_rules_t *rules;    /* rules/ snapshot */
    cw_checks_fact_t *facts;     /* history handed to the checks */
    size_t facts_len;            /* entries of facts */
    cw_checks_assessment_t *out; /* reused output */
    double seconds;              /* per measurement */
    cw_msg_header_t fwd_header;  /* header of the forwarded envelope */
    xmlDoc *doc;                 /* a parsed copy for the step breakdown */
    int mode;                    /* step_read_run: 0 read only, 1 read + run */
} bench_t;

/* Runs fn until the time is up; returns nanoseconds per operation. */
static double measure(bench_t *b, int (*fn)(bench_t *))
{
    uint64_t start = cw_time_mono_ns();
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);
    uint64_t now = start;
    long n = 0;

    while (now < end) {
        int rc = fn(b);
        if (rc != 0) {
            fprintf(stderr, "bench: operation failed: %s\n", cw_strerror(rc));
            exit(1);
        }
        n++;
        now = cw_time_mono_ns();
    }
    return (double)(now - start) / (double)n;
}

/* The signed ingest path: parse, verify the sender, build and sign the
 * envelope this node forwards. */
static int ingest(bench_t *b)
{
    xmlDoc *doc = NULL;
    xmlDoc *fwd = NULL;
    cw_sec_problem_e p;
    cw_sec_verified_t v;
    cw_error_t err;
    char *out = NULL;
    size_t len;
    int rc;

    rc = cw_sec_xml_parse(&doc, b->signed_env, strlen(b->signed_env), &b->limits, &p, &err);
    if (rc == 0) {
        rc = cw_sec_envelope_verify(&v, b->hub, doc, NULL, &err);
        if (rc < 0) {
            fprintf(stderr, "bench: verify: %s\n", err.msg);
        }
    }
    /* the node forwards a new envelope of its own carrying the document */
    if (rc == 0) {
        rc = cw_msg_envelope_new(&fwd, &b->fwd_header, cw_msg_business_doc(doc), &err);
    }
    if (rc == 0) {
        unsigned char digest[32];

        /* As intake seals: the bytes to send and their digest. */
        rc = cw_sec_doc_sign_c14n(b->hub, fwd, &out, &len, digest, &err);
    }
    cw_free(out);
    xmlFreeDoc(fwd);
    xmlFreeDoc(doc);
    return rc;
}

/* What the checks add on a parsed envelope (parsing is counted once, above). */
static int checks_on(bench_t *b, xmlDoc *doc)
{
    cw_checks_consignment_t c;
    cw_checks_context_t ctx;
    cw_checks_history_t hist = { .facts = b->facts,
                                 .facts_len = b->facts_len,
                                 .has_year_total = 1,
                                 .buyer_year_total_minor = 1000 };
    xmlNode *node = cw_msg_business_doc(doc);
    xmlNode *assessment = NULL;
    cw_error_t err;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.sender = "alice";
    ctx.reference_date = 20576; /* 2026-05-03 */
    ctx.schema_failed = cw_checks_consignment_validate(b->rules, node, &err) < 0;
    rc = cw_checks_consignment_read(&c, node, &err);
    if (rc == 0) {
        rc = cw_checks_run(b->out, b->rules, &c, &ctx, &hist, &err);
        cw_checks_consignment_fini(&c);
    }
    if (rc == 0) {
        rc = cw_checks_assessment_to_xml(&assessment, b->out, "hub", doc, node->parent);
    }
    return rc;
}

static int checks_only(bench_t *b)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_error_t err;
    int rc = cw_sec_xml_parse(&doc, b->signed_env, strlen(b->signed_env), &b->limits, &p, &err);
    if (rc == 0) {
        rc = checks_on(b, doc);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* One step of the checks on a parsed envelope kept in b->doc. */
static int step_validate(bench_t *b)
{
    cw_error_t err;

    return cw_checks_consignment_validate(b->rules, cw_msg_business_doc(b->doc), &err) < 0;
}

static int step_read_run(bench_t *b)
{
    cw_checks_consignment_t c;
    cw_checks_context_t ctx;
    cw_checks_history_t hist = { .facts = b->facts,
                                 .facts_len = b->facts_len,
                                 .has_year_total = 1,
                                 .buyer_year_total_minor = 1000 };
    cw_error_t err;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.sender = "alice";
    ctx.reference_date = 20576;
    rc = cw_checks_consignment_read(&c, cw_msg_business_doc(b->doc), &err);
    if (rc == 0 && b->mode == 1) {
        rc = cw_checks_run(b->out, b->rules, &c, &ctx, &hist, &err);
    }
    cw_checks_consignment_fini(&c);
    return rc;
}

static int step_xml(bench_t *b)
{
    xmlNode *n = NULL;
    int rc = cw_checks_assessment_to_xml(&n, b->out, "hub", b->doc, NULL);

    xmlFreeNode(n);
    return rc;
}

static int parse_only(bench_t *b)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_error_t err;
    int rc = cw_sec_xml_parse(&doc, b->signed_env, strlen(b->signed_env), &b->limits, &p, &err);

    xmlFreeDoc(doc);
    return rc;
}

static int read_file(char **out, const char *path)
{
    FILE *f = fopen(path, "rb");
    cw_buf_t buf;
    char chunk[4096];
    size_t n, len;

    if (f == NULL) {
        return -1;
    }
    cw_buf_init(&buf, 1 << 24);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (cw_buf_append(&buf, chunk, n) < 0) {
            (void)fclose(f);
            cw_buf_fini(&buf);
            return -1;
        }
    }
    (void)fclose(f);
    *out = cw_buf_detach(&buf, &len);
    return *out != NULL ? 0 : -1;
}

/* Multiplies the fixture's items to n (same item repeated) for scaling. */
static void items_multiply(xmlDoc *doc, int n)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *last = NULL;
    int have = 0;

    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        if (k->type == XML_ELEMENT_NODE && strcmp((const char *)k->name, "Item") == 0) {
            last = k;
            have++;
        }
    }
    for (; last != NULL && have < n; have++) {
        xmlAddNextSibling(last, xmlCopyNode(last, 1));
    }
}

/* The sender's signing keys and this node's keys (which trust the sender). */
static int setup_keys(bench_t *b)
{
    char p[3][512], cert[512];
    const char *certs[1];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_error_t err;

    memset(&conf, 0, sizeof(conf));
    conf.node_id = "alice";
    (void)snprintf(p[0], sizeof(p[0]), "%s/alice.key", b->dir);
    (void)snprintf(p[1], sizeof(p[1]), "%s/alice.pem", b->dir);
    conf.key_path = p[0];
    conf.cert_path = p[1];
    if (cw_sec_keys_new(&b->alice, &conf, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    certs[0] = p[1];
    partner = (cw_sec_partner_conf_t){ "alice", certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "hub";
    (void)snprintf(p[2], sizeof(p[2]), "%s/hub.key", b->dir);
    conf.key_path = p[2];
    (void)snprintf(cert, sizeof(cert), "%s/hub.pem", b->dir);
    conf.cert_path = cert;
    conf.partners = &partner;
    conf.partner_count = 1;
    if (cw_sec_keys_new(&b->hub, &conf, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int setup(bench_t *b, const char *src, int items, int facts)
{
    char cmd[1024], fixture[600], rules[600];
    cw_error_t err;
    cw_msg_header_t h;
    xmlDoc *pdoc = NULL;
    xmlDoc *env = NULL;
    char *payload = NULL;
    size_t len;

    cw_config_limits_default(&b->limits);
    (void)snprintf(b->dir, sizeof(b->dir), "/tmp/cw-bench-checks.XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        return -1;
    }
    (void)snprintf(cmd, sizeof(cmd), "'%s/certs/make-dev-pki' '%s' hub alice >/dev/null", src,
                   b->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    if (setup_keys(b) < 0) {
        return -1;
    }
    (void)snprintf(fixture, sizeof(fixture), "%s/tests/data/consignments/eu-ioss-tshirts.xml", src);
    (void)snprintf(rules, sizeof(rules), "%s/rules", src);
    if (cw_checks_rules_load(&b->rules, rules, &err) < 0 || read_file(&payload, fixture) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    memset(&h, 0, sizeof(h));
    (void)cw_strlcpy(h.message_id, "bench-1", sizeof(h.message_id));
    (void)cw_strlcpy(h.conversation_id, "bench", sizeof(h.conversation_id));
    (void)cw_strlcpy(h.from, "alice", sizeof(h.from));
    (void)cw_strlcpy(h.to, "hub", sizeof(h.to));
    (void)cw_strlcpy(h.service, "ecommerce", sizeof(h.service));
    (void)cw_strlcpy(h.action, "consignment", sizeof(h.action));
    cw_msg_timestamp_format(h.timestamp, sizeof(h.timestamp), cw_time_wall_s());
    b->fwd_header = h;
    (void)cw_strlcpy(b->fwd_header.from, "hub", sizeof(b->fwd_header.from));
    (void)cw_strlcpy(b->fwd_header.to, "customs", sizeof(b->fwd_header.to));
    pdoc = xmlReadMemory(payload, (int)strlen(payload), "c.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (pdoc == NULL) {
        return -1;
    }
    items_multiply(pdoc, items);
    if (cw_msg_envelope_new(&env, &h, xmlDocGetRootElement(pdoc), &err) < 0
        || cw_sec_doc_sign(b->alice, env, &err) < 0
        || cw_sec_xml_serialize(&b->signed_env, &len, env) < 0) {
        return -1;
    }
    /* prior facts of other buyers and sellers, as the store would return */
    b->facts = cw_calloc((size_t)facts + 1, sizeof(*b->facts));
    b->out = cw_calloc(1, sizeof(*b->out));
    if (b->facts == NULL || b->out == NULL) {
        return -1;
    }
    for (int i = 0; i < facts; i++) {
        cw_checks_fact_t *f = &b->facts[i];
        (void)snprintf(f->consignment_id, sizeof(f->consignment_id), "prior-%d", i);
        /* keys look like SHA-256 hex: they differ from the first byte */
        (void)snprintf(f->buyer_key, sizeof(f->buyer_key), "%016llx%048d",
                       (unsigned long long)(i % 7 + 1) * 0x9e3779b97f4a7c15ULL, 0);
        (void)snprintf(f->seller_key, sizeof(f->seller_key), "%016llx%048d",
                       (unsigned long long)(i % 5 + 11) * 0x9e3779b97f4a7c15ULL, 0);
        (void)snprintf(f->business_key, sizeof(f->business_key), "%016llx%048d",
                       (unsigned long long)(i + 101) * 0x9e3779b97f4a7c15ULL, 0);
        (void)cw_strlcpy(f->currency, "EUR", sizeof(f->currency));
        f->value_minor = 14000 + i;
        f->date = 20576 - (i % 30);
    }
    b->facts_len = (size_t)facts;
    cw_free(payload);
    xmlFreeDoc(pdoc);
    xmlFreeDoc(env);
    return 0;
}

/* A small positive count from argv, or the default. */
static int count_arg(const char *s, int dflt)
{
    uint64_t v;

    return cw_parse_uint(s, 0, 100000, &v) == 0 ? (int)v : dflt;
}

int main(int argc, char **argv)
{
    bench_t b;
    cw_error_t err;
    const char *src = CW_SRC_DIR;
    int items = 2, facts = 50;
    double ing, chk_total, parse, chk;
    char cmd[512];

    memset(&b, 0, sizeof(b));
    b.seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            b.seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc) {
            src = argv[++i];
        } else if (strcmp(argv[i], "--items") == 0 && i + 1 < argc) {
            items = count_arg(argv[++i], items);
        } else if (strcmp(argv[i], "--facts") == 0 && i + 1 < argc) {
            facts = count_arg(argv[++i], facts);
        } else {
            fprintf(stderr, "usage: bench_checks [--seconds S] [--src DIR] [--items N] "
                            "[--facts N]\n");
            return 2;
        }
    }
    if (cw_sec_lib_init(&err) < 0 || setup(&b, src, items, facts) < 0) {
        fprintf(stderr, "bench: set-up failed\n");
        return 1;
    }
    ing = measure(&b, ingest);
    parse = measure(&b, parse_only);
    chk_total = measure(&b, checks_only);
    chk = chk_total - parse;
    printf("consignment: %d item(s), %d prior facts, %zu bytes signed envelope\n", items, facts,
           strlen(b.signed_env));
    printf("signed ingest (parse + verify + sign): %9.1f us/msg\n", ing / 1e3);
    printf("checks (xsd + read + run + assessment): %8.1f us/msg\n", chk / 1e3);
    printf("checks / signed ingest:                 %8.1f %%  (target <= 10 %%)\n",
           100.0 * chk / ing);
    {
        cw_sec_problem_e pr;
        double v, r, rr, x;
        if (cw_sec_xml_parse(&b.doc, b.signed_env, strlen(b.signed_env), &b.limits, &pr, &err)
            < 0) {
            return 1;
        }
        v = measure(&b, step_validate);
        b.mode = 0;
        r = measure(&b, step_read_run);
        b.mode = 1;
        rr = measure(&b, step_read_run);
        x = measure(&b, step_xml);
        printf("  breakdown: xsd %.1f us, read %.1f us, run %.1f us, assessment xml %.1f us\n",
               v / 1e3, r / 1e3, (rr - r) / 1e3, x / 1e3);
        printf("  sum of steps / signed ingest:         %8.1f %%\n", 100.0 * (v + rr + x) / ing);
        printf("  without the XSD step (pipeline step 5): %6.1f %%\n", 100.0 * (rr + x) / ing);
        xmlFreeDoc(b.doc);
    }
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: could not remove %s\n", b.dir);
    }
    cw_free(b.facts);
    cw_free(b.out);
    cw_free(b.signed_env);
    cw_checks_rules_unref(b.rules);
    cw_sec_keys_unref(b.alice);
    cw_sec_keys_unref(b.hub);
    cw_sec_lib_fini();
    return 0;
}
