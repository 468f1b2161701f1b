/*
 * bench_corpus: a corpus of pre-signed consignment envelopes for loadgen
 * --body-dir, one file per message, made in-process (the `clearway sign` CLI
 * costs a process start per file, about 15 ms; this signs thousands per
 * second).
 *
 * usage: bench_corpus --key K --cert C --from P --to Q --template FILE
 *                     --count N --out DIR [--prefix ID] [--sellers K]
 *
 * Every file gets its own MessageId (PREFIX-i) and, in the consignment, its
 * own ConsignmentId, TransportDocument, order number, payment reference and
 * buyer address line, so that no duplicate or split-shipment check fires
 * across the corpus. The seller's id is one of K (message i has seller
 * i mod K; default: every message its own seller): the stateful checks read
 * the ledger's facts of the same seller, so K sets how much history each
 * message brings back (K = 1: all earlier messages of the day). The template is
 * tests/data/consignments/ eu-ioss-tshirts.xml (or a consignment with the same ids). Files are
 * DIR/PREFIX-000000.xml and on, in name order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "msg.h"
#include "sec.h"

typedef struct corpus_opts {
    const char *key;
    const char *cert;
    const char *from;
    const char *to;
    const char *template_path;
    const char *out;
    const char *prefix;
    long count;
    long sellers; /* 0: one per message */
} corpus_opts_t;

/* The template's ids and what each becomes: head, then "PREFIX-" when
 * with_prefix, then i (or the seller number when seller; zero-padded to
 * width), then tail. */
static const struct edit {
    const char *from;
    const char *head;
    int with_prefix;
    int seller;
    int width;
    const char *tail;
} edits[] = {
    { "CW-2026-000101", "CW-", 1, 0, 0, "" },
    { "LP123456789CN", "LP", 0, 0, 9, "CN" },
    { "SQ-88812", "SQ-", 1, 0, 0, "" },
    { "PAY-77001", "PAY-", 1, 0, 0, "" },
    { "91440300MA5F000001", "91440300MA", 0, 1, 8, "" },
    { "Lindenstra\xc3\x9f"
      "e 5<",
      "Lindenstra\xc3\x9f"
      "e ",
      0, 0, 0, "<" },
};

/* Reads path into a NUL-terminated heap string; NULL on failure. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        text = cw_malloc((size_t)size + 1);
        if (text != NULL && fread(text, 1, (size_t)size, f) != (size_t)size) {
            cw_free(text);
            text = NULL;
        } else if (text != NULL) {
            text[size] = '\0';
        }
    }
    (void)fclose(f);
    return text;
}

/* The template with every edit applied for message i, into buf. */
static int personalise(cw_buf_t *buf, const char *tmpl, const char *prefix, long i, long sellers)
{
    const char *p = tmpl;
    char repl[128];
    size_t k;
    int rc = 0;

    cw_buf_reset(buf);
    while (*p != '\0' && rc == 0) {
        for (k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
            size_t n = strlen(edits[k].from);

            if (strncmp(p, edits[k].from, n) == 0) {
                (void)snprintf(repl, sizeof(repl), "%s%s%s%0*ld%s", edits[k].head,
                               edits[k].with_prefix ? prefix : "", edits[k].with_prefix ? "-" : "",
                               edits[k].width, edits[k].seller && sellers > 0 ? i % sellers : i,
                               edits[k].tail);
                rc = cw_buf_append(buf, repl, strlen(repl));
                p += n;
                break;
            }
        }
        if (k == sizeof(edits) / sizeof(edits[0])) {
            rc = cw_buf_append(buf, p, 1);
            p++;
        }
    }
    return rc;
}

static int one(const corpus_opts_t *o,
               cw_sec_keys_t *keys,
               const cw_conf_limits_t *limits,
               const char *tmpl,
               cw_buf_t *buf,
               long i)
{
    xmlDoc *pdoc = NULL;
    xmlDoc *env = NULL;
    char *text = NULL;
    size_t len = 0;
    char file[1024];
    cw_msg_header_t h;
    cw_sec_problem_e problem;
    cw_error_t err;
    FILE *f = NULL;
    int rc;

    memset(&err, 0, sizeof(err));
    memset(&h, 0, sizeof(h));
    (void)snprintf(h.message_id, sizeof(h.message_id), "%s-%ld", o->prefix, i);
    (void)cw_strlcpy(h.conversation_id, h.message_id, sizeof(h.conversation_id));
    (void)cw_strlcpy(h.from, o->from, sizeof(h.from));
    (void)cw_strlcpy(h.to, o->to, sizeof(h.to));
    (void)cw_strlcpy(h.service, "ecommerce", sizeof(h.service));
    (void)cw_strlcpy(h.action, "consignment", sizeof(h.action));
    cw_msg_timestamp_format(h.timestamp, sizeof(h.timestamp), cw_time_wall_s());
    rc = personalise(buf, tmpl, o->prefix, i, o->sellers);
    if (rc < 0) {
        goto out;
    }
    rc = cw_sec_xml_parse(&pdoc, buf->data, buf->len, limits, &problem, &err);
    if (rc < 0) {
        goto out;
    }
    rc = cw_msg_envelope_new(&env, &h, xmlDocGetRootElement(pdoc), &err);
    if (rc < 0) {
        goto out;
    }
    rc = cw_sec_doc_sign(keys, env, &err);
    if (rc < 0) {
        goto out;
    }
    rc = cw_sec_xml_serialize(&text, &len, env);
    if (rc < 0) {
        goto out;
    }
    (void)snprintf(file, sizeof(file), "%s/%s-%06ld.xml", o->out, o->prefix, i);
    f = fopen(file, "wb");
    if (f == NULL || fwrite(text, 1, len, f) != len) {
        fprintf(stderr, "bench_corpus: cannot write %s\n", file);
        rc = CW_EIO;
    }
out:
    if (rc < 0 && err.msg[0] != '\0') {
        fprintf(stderr, "bench_corpus: message %ld: %s\n", i, err.msg);
    }
    if (f != NULL && fclose(f) != 0 && rc == 0) {
        rc = CW_EIO;
    }
    cw_free(text);
    if (env != NULL) {
        xmlFreeDoc(env);
    }
    if (pdoc != NULL) {
        xmlFreeDoc(pdoc);
    }
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_corpus --key K --cert C --from P --to Q --template FILE\n"
                    "                    --count N --out DIR [--prefix ID] [--sellers K]\n");
    return 2;
}

int main(int argc, char **argv)
{
    corpus_opts_t o;
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_conf_limits_t limits;
    cw_error_t err;
    cw_buf_t buf;
    char *tmpl = NULL;
    long i;
    int rc = 1;

    memset(&o, 0, sizeof(o));
    o.prefix = "bench";
    /* Every option takes a value: two arguments a step. */
    for (i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            return usage();
        } else if (strcmp(argv[i], "--key") == 0) {
            o.key = v;
        } else if (strcmp(argv[i], "--cert") == 0) {
            o.cert = v;
        } else if (strcmp(argv[i], "--from") == 0) {
            o.from = v;
        } else if (strcmp(argv[i], "--to") == 0) {
            o.to = v;
        } else if (strcmp(argv[i], "--template") == 0) {
            o.template_path = v;
        } else if (strcmp(argv[i], "--out") == 0) {
            o.out = v;
        } else if (strcmp(argv[i], "--prefix") == 0) {
            o.prefix = v;
        } else if (strcmp(argv[i], "--sellers") == 0) {
            o.sellers = strtol(v, NULL, 10);
        } else if (strcmp(argv[i], "--count") == 0) {
            o.count = strtol(v, NULL, 10);
        } else {
            return usage();
        }
    }
    if (o.key == NULL || o.cert == NULL || o.from == NULL || o.to == NULL || o.template_path == NULL
        || o.out == NULL || o.count <= 0 || o.count > 1000000 || o.sellers < 0) {
        return usage();
    }
    tmpl = slurp(o.template_path);
    if (tmpl == NULL) {
        fprintf(stderr, "bench_corpus: cannot read %s\n", o.template_path);
        return 1;
    }
    cw_buf_init(&buf, 1u << 20);
    cw_config_limits_default(&limits);
    memset(&conf, 0, sizeof(conf));
    conf.node_id = o.from;
    conf.key_path = o.key;
    conf.cert_path = o.cert;
    if (cw_sec_lib_init(&err) < 0 || cw_sec_keys_new(&keys, &conf, &err) < 0) {
        fprintf(stderr, "bench_corpus: %s\n", err.msg);
        goto out;
    }
    for (i = 0; i < o.count; i++) {
        if (one(&o, keys, &limits, tmpl, &buf, i) < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    cw_sec_keys_unref(keys);
    cw_buf_fini(&buf);
    cw_free(tmpl);
    cw_sec_lib_fini();
    return rc;
}
