/*
 * bench_xmldsig: envelope verify and sign rates, Clearway's way (partner keys
 * resolved once, key handed to the signature context, per-thread state)
 * next to plain xmlsec loops the way its examples work (a keys manager and
 * key files loaded per message, the key found through KeyInfo).
 *
 * usage: bench_xmldsig [--seconds S] [--src DIR] [--rsa] [--payload FILE]
 *                      [--threads N] [--limit-only] [--xmlsec-only]
 * Makes a throwaway PKI with DIR/certs/make-dev-pki. The rows run on one
 * thread; --threads N adds the limit row: verify + sign of the same message
 * on N threads at once (shared read-only keys, per-thread signature state),
 * as aggregate messages per second. --payload wraps FILE (a consignment)
 * instead of the built-in one-item payload, so the limit is measured on the
 * message a load test sends. --limit-only prints only the verify+sign rows;
 * --xmlsec-only only the plain xmlsec loop's row on --threads N threads
 * (for run-ingest-bench's rounds, which measure the limit right before and
 * after each closed loop).
 *
 * The limit is measured twice: with Clearway's own verify and sign, and as
 * the issue defines it, a plain libxml2 + xmlsec loop (xmlReadMemory,
 * xmlSecDSigCtxVerify, a template and xmlSecDSigCtxSign, xmlDocDumpMemory)
 * with the partner's key and the signing key loaded once and lent to each
 * signature context (not copied: a copy duplicates the certificate, which
 * costs more than the signature), so that no keys manager and no KeyInfo
 * lookup runs. That makes it the fastest plain loop, not a straw man.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <xmlsec/crypto.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>

#include "msg.h"
#include "sec.h"

#ifndef CW_SRC_DIR
#define CW_SRC_DIR "."
#endif

typedef struct bench {
    char dir[256];    /* throwaway PKI */
    const char *base; /* "alice" (ECDSA P-256) or "alice-rsa" */
    cw_conf_limits_t limits;
    cw_sec_keys_t *alice; /* signs */
    cw_sec_keys_t *hub;   /* verifies alice */
    char *unsigned_env;   /* envelope text without signature */
    char *signed_env;     /* the same, signed by alice */
    double seconds;
    const char *payload_path; /* NULL: the built-in payload */
    xmlSecKeyPtr plain_pub;   /* alice's certificate's key, for plain verify */
    xmlSecKeyPtr plain_priv;  /* alice's key and certificate, for plain sign */
} bench_t;

static const char *path(const bench_t *b, const char *name, char *out, size_t size)
{
    (void)snprintf(out, size, "%s/%s", b->dir, name);
    return out;
}

/* Runs fn until the time is up; returns operations per second. */
static double measure(bench_t *b, int (*fn)(bench_t *))
{
    uint64_t start = cw_time_mono_ns();
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);
    uint64_t now = start;
    long n = 0;

    while (now < end) {
        if (fn(b) != 0) {
            fprintf(stderr, "bench: operation failed\n");
            exit(1);
        }
        n++;
        now = cw_time_mono_ns();
    }
    return (double)n / ((double)(now - start) / 1e9);
}

/* ==== Clearway ==== */

static int ours_verify(bench_t *b)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_sec_verified_t v;
    cw_error_t err;
    int rc;

    if (cw_sec_xml_parse(&doc, b->signed_env, strlen(b->signed_env), &b->limits, &p, &err) < 0) {
        return -1;
    }
    rc = cw_sec_envelope_verify(&v, b->hub, doc, NULL, &err);
    xmlFreeDoc(doc);
    return rc;
}

static int ours_sign(bench_t *b)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_error_t err;
    char *out = NULL;
    size_t len;
    int rc;

    if (cw_sec_xml_parse(&doc, b->unsigned_env, strlen(b->unsigned_env), &b->limits, &p, &err)
        < 0) {
        return -1;
    }
    /* As the node signs a receipt: the bytes to send are the canonical
     * form the signature made (cw_sec_doc_sign_c14n), not a serialisation. */
    rc = cw_sec_doc_sign_c14n(b->alice, doc, &out, &len, NULL, &err);
    cw_free(out);
    xmlFreeDoc(doc);
    return rc;
}

/* What the node does to each message at least: verify the sender's
 * signature, then sign (its receipt) with a key of the same algorithm. */
static int ours_verify_sign(bench_t *b)
{
    int rc = ours_verify(b);

    return rc == 0 ? ours_sign(b) : rc;
}

typedef struct worker {
    bench_t *b;
    int (*fn)(bench_t *);
    uint64_t end_ns;
    long ops;
    int failed;
    pthread_t thread;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;

    while (cw_time_mono_ns() < w->end_ns) {
        if (w->fn(w->b) != 0) {
            w->failed = 1;
            break;
        }
        w->ops++;
    }
    return NULL;
}

/* fn on n threads at once for b->seconds; aggregate ops/s. */
static double measure_threads(bench_t *b, int n, int (*fn)(bench_t *))
{
    worker_t *w = cw_calloc((size_t)n, sizeof(*w));
    uint64_t start = cw_time_mono_ns();
    uint64_t now;
    long ops = 0;
    int started = 0;
    int failed = 0;
    int i;

    if (w == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) {
        w[i].b = b;
        w[i].fn = fn;
        w[i].end_ns = start + (uint64_t)(b->seconds * 1e9);
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            failed = 1;
            break;
        }
        started++;
    }
    for (i = 0; i < started; i++) {
        (void)pthread_join(w[i].thread, NULL);
        ops += w[i].ops;
        failed |= w[i].failed;
    }
    now = cw_time_mono_ns();
    cw_free(w);
    if (failed) {
        fprintf(stderr, "bench: verify+sign failed on a thread\n");
        exit(1);
    }
    return (double)ops / ((double)(now - start) / 1e9);
}

/* ==== Plain xmlsec, as in its examples ==== */

static xmlDoc *plain_parse(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "in.xml", NULL, XML_PARSE_NONET);
}

/* verify3.c's way: a keys manager with the trusted CA, the key from KeyInfo. */
static int plain_verify_with(bench_t *b, xmlSecKeysMngrPtr shared)
{
    xmlSecKeysMngrPtr mngr = shared;
    xmlSecDSigCtxPtr ctx = NULL;
    xmlDoc *doc = plain_parse(b->signed_env);
    xmlNode *sig;
    char ca[512];
    int rc = -1;

    if (doc == NULL) {
        goto out;
    }
    if (mngr == NULL) {
        mngr = xmlSecKeysMngrCreate();
        if (mngr == NULL || xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0
            || xmlSecCryptoAppKeysMngrCertLoad(mngr, path(b, "ca.pem", ca, sizeof(ca)),
                                               xmlSecKeyDataFormatPem, xmlSecKeyDataTypeTrusted)
                   < 0) {
            goto out;
        }
    }
    sig = xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeSignature, xmlSecDSigNs);
    ctx = xmlSecDSigCtxCreate(mngr);
    if (sig == NULL || ctx == NULL) {
        goto out;
    }
    if (xmlSecDSigCtxVerify(ctx, sig) == 0 && ctx->status == xmlSecDSigStatusSucceeded) {
        rc = 0;
    }
out:
    if (ctx != NULL) {
        xmlSecDSigCtxDestroy(ctx);
    }
    if (mngr != NULL && mngr != shared) {
        xmlSecKeysMngrDestroy(mngr);
    }
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

static int plain_verify(bench_t *b)
{
    return plain_verify_with(b, NULL);
}

static xmlSecKeysMngrPtr shared_mngr;

static int plain_verify_shared(bench_t *b)
{
    return plain_verify_with(b, shared_mngr);
}

/* sign1.c's way: the key and certificate loaded from files for each message,
 * or, with key, a copy of the key loaded once. */
static int plain_sign_with(bench_t *b, xmlSecKeyPtr key_once)
{
    xmlDoc *doc = plain_parse(b->unsigned_env);
    xmlSecDSigCtxPtr ctx = NULL;
    xmlNode *sig;
    xmlNode *ref;
    xmlNode *ki;
    xmlChar *mem = NULL;
    int size = 0;
    char name[64];
    char key[512];
    char cert[512];
    int rsa = strstr(b->base, "rsa") != NULL;
    int rc = -1;

    if (doc == NULL) {
        goto out;
    }
    sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId,
                                          rsa ? xmlSecTransformRsaSha256Id
                                              : xmlSecTransformEcdsaSha256Id,
                                          NULL, (const xmlChar *)"ds");
    if (sig == NULL) {
        goto out;
    }
    xmlAddChild(xmlDocGetRootElement(doc), sig);
    ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, (const xmlChar *)"",
                                          NULL);
    if (ref == NULL || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL
        || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL) {
        goto out;
    }
    ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
    if (ki == NULL || xmlSecTmplKeyInfoAddX509Data(ki) == NULL) {
        goto out;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        goto out;
    }
    if (key_once != NULL) {
        /* Lent, not copied: xmlSecKeyDuplicate copies the certificate too,
         * which costs more than the signature. Taken back before the
         * context is destroyed. */
        ctx->signKey = key_once;
    } else {
        (void)snprintf(name, sizeof(name), "%s.key", b->base);
        ctx->signKey = xmlSecCryptoAppKeyLoad(path(b, name, key, sizeof(key)),
                                              xmlSecKeyDataFormatPem, NULL, NULL, NULL);
        (void)snprintf(name, sizeof(name), "%s.pem", b->base);
        if (ctx->signKey == NULL
            || xmlSecCryptoAppKeyCertLoad(ctx->signKey, path(b, name, cert, sizeof(cert)),
                                          xmlSecKeyDataFormatPem)
                   < 0) {
            goto out;
        }
    }
    if (xmlSecDSigCtxSign(ctx, sig) < 0) {
        goto out;
    }
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    rc = mem != NULL ? 0 : -1;
out:
    if (mem != NULL) {
        xmlFree(mem);
    }
    if (ctx != NULL) {
        if (ctx->signKey == key_once) {
            ctx->signKey = NULL;
        }
        xmlSecDSigCtxDestroy(ctx);
    }
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

static int plain_sign(bench_t *b)
{
    return plain_sign_with(b, NULL);
}

/* The limit as the issue defines it: plain xmlsec, keys resolved in advance.
 * Verification is lent the partner's key, so xmlsec neither consults a keys
 * manager nor decodes KeyInfo, and must still succeed. */
static int plain_verify_keyed(bench_t *b)
{
    xmlDoc *doc = plain_parse(b->signed_env);
    xmlSecDSigCtxPtr ctx = NULL;
    xmlNode *sig;
    int rc = -1;

    if (doc == NULL) {
        return -1;
    }
    sig = xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeSignature, xmlSecDSigNs);
    ctx = xmlSecDSigCtxCreate(NULL);
    if (sig != NULL && ctx != NULL) {
        ctx->signKey = b->plain_pub; /* lent, as in plain_sign_with */
        if (ctx->signKey != NULL && xmlSecDSigCtxVerify(ctx, sig) == 0
            && ctx->status == xmlSecDSigStatusSucceeded) {
            rc = 0;
        }
    }
    if (ctx != NULL) {
        ctx->signKey = NULL;
        xmlSecDSigCtxDestroy(ctx);
    }
    xmlFreeDoc(doc);
    return rc;
}

static int plain_verify_sign(bench_t *b)
{
    int rc = plain_verify_keyed(b);

    return rc == 0 ? plain_sign_with(b, b->plain_priv) : rc;
}

/* ==== Set-up ==== */

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

static int setup(bench_t *b, const char *src)
{
    char cmd[1024];
    char p[4][512];
    char name[64];
    const char *certs[1];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_error_t err;
    cw_msg_header_t h;
    xmlDoc *pdoc = NULL;
    xmlDoc *env = NULL;
    size_t len;
    cw_sec_problem_e problem;
    char *file_payload = NULL;
    const char *payload = "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\">"
                          "<c:Item><c:Description>Cotton T-shirt</c:Description>"
                          "<c:HsCode>610910</c:HsCode><c:Quantity>2</c:Quantity>"
                          "<c:Value currency=\"EUR\">24.90</c:Value></c:Item></c:Consignment>";

    cw_config_limits_default(&b->limits);
    (void)snprintf(b->dir, sizeof(b->dir), "/tmp/cw-bench.XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        return -1;
    }
    (void)snprintf(cmd, sizeof(cmd), "'%s/certs/make-dev-pki' '%s' hub alice", src, b->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "alice";
    (void)snprintf(name, sizeof(name), "%s.key", b->base);
    conf.key_path = path(b, name, p[0], sizeof(p[0]));
    (void)snprintf(name, sizeof(name), "%s.pem", b->base);
    conf.cert_path = path(b, name, p[1], sizeof(p[1]));
    if (cw_sec_keys_new(&b->alice, &conf, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    certs[0] = conf.cert_path;
    partner = (cw_sec_partner_conf_t){ "alice", certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "hub";
    conf.partners = &partner;
    conf.partner_count = 1;
    if (cw_sec_keys_new(&b->hub, &conf, &err) < 0) {
        return -1;
    }
    memset(&h, 0, sizeof(h));
    (void)cw_strlcpy(h.message_id, "bench-1", sizeof(h.message_id));
    (void)cw_strlcpy(h.conversation_id, "bench", sizeof(h.conversation_id));
    (void)cw_strlcpy(h.from, "alice", sizeof(h.from));
    (void)cw_strlcpy(h.to, "hub", sizeof(h.to));
    (void)cw_strlcpy(h.service, "ecommerce", sizeof(h.service));
    (void)cw_strlcpy(h.action, "consignment", sizeof(h.action));
    /* A timestamp in the window for the whole run. */
    cw_msg_timestamp_format(h.timestamp, sizeof(h.timestamp), cw_time_wall_s());
    if (b->payload_path != NULL) {
        file_payload = slurp(b->payload_path);
        if (file_payload == NULL) {
            fprintf(stderr, "bench: cannot read %s\n", b->payload_path);
            return -1;
        }
        payload = file_payload;
    }
    if (cw_sec_xml_parse(&pdoc, payload, strlen(payload), &b->limits, &problem, &err) < 0
        || cw_msg_envelope_new(&env, &h, xmlDocGetRootElement(pdoc), &err) < 0
        || cw_sec_xml_serialize(&b->unsigned_env, &len, env) < 0
        || cw_sec_doc_sign(b->alice, env, &err) < 0
        || cw_sec_xml_serialize(&b->signed_env, &len, env) < 0) {
        cw_free(file_payload);
        return -1;
    }
    cw_free(file_payload);
    xmlFreeDoc(pdoc);
    xmlFreeDoc(env);
    (void)snprintf(name, sizeof(name), "%s.pem", b->base);
    b->plain_pub = xmlSecCryptoAppKeyLoad(path(b, name, p[3], sizeof(p[3])),
                                          xmlSecKeyDataFormatCertPem, NULL, NULL, NULL);
    (void)snprintf(name, sizeof(name), "%s.key", b->base);
    b->plain_priv = xmlSecCryptoAppKeyLoad(path(b, name, p[2], sizeof(p[2])),
                                           xmlSecKeyDataFormatPem, NULL, NULL, NULL);
    (void)snprintf(name, sizeof(name), "%s.pem", b->base);
    if (b->plain_pub == NULL || b->plain_priv == NULL
        || xmlSecCryptoAppKeyCertLoad(b->plain_priv, path(b, name, p[3], sizeof(p[3])),
                                      xmlSecKeyDataFormatPem)
               < 0) {
        fprintf(stderr, "bench: cannot load the keys for the plain xmlsec loop\n");
        return -1;
    }
    shared_mngr = xmlSecKeysMngrCreate();
    if (shared_mngr == NULL || xmlSecCryptoAppDefaultKeysMngrInit(shared_mngr) < 0
        || xmlSecCryptoAppKeysMngrCertLoad(shared_mngr, path(b, "ca.pem", p[2], sizeof(p[2])),
                                           xmlSecKeyDataFormatPem, xmlSecKeyDataTypeTrusted)
               < 0) {
        return -1;
    }
    return 0;
}

/* limit_row: verify + sign on THREADS threads only, without the one-thread
 * row that limit_rows measures first. */
static void limit_row(bench_t *b, const char *who, int (*fn)(bench_t *), int threads)
{
    char label[128];

    (void)snprintf(label, sizeof(label), "verify+sign: %s, %d thread%s (limit)", who, threads,
                   threads == 1 ? "" : "s");
    printf("%-44s %10.0f\n", label, measure_threads(b, threads, fn));
}

/* The verify+sign rows of one loop: on one thread, then on threads. */
static void limit_rows(bench_t *b, const char *who, int (*fn)(bench_t *), int threads)
{
    char label[128];
    double one;
    double n;

    one = measure(b, fn);
    (void)snprintf(label, sizeof(label), "verify+sign: %s, 1 thread", who);
    printf("%-44s %10.0f\n", label, one);
    if (threads > 0) {
        n = measure_threads(b, threads, fn);
        (void)snprintf(label, sizeof(label), "verify+sign: %s, %d thread%s (limit)", who, threads,
                       threads == 1 ? "" : "s");
        printf("%-44s %10.0f %8.2f\n", label, n, n / one);
    }
}

int main(int argc, char **argv)
{
    bench_t b;
    cw_error_t err;
    const char *src = CW_SRC_DIR;
    double ov, pv, ps_v, os, ps;
    char cmd[512];
    int threads = 0;
    int limit_only = 0;
    int xmlsec_only = 0;
    int i;

    memset(&b, 0, sizeof(b));
    b.seconds = 2.0;
    b.base = "alice";
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            b.seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--src") == 0 && i + 1 < argc) {
            src = argv[++i];
        } else if (strcmp(argv[i], "--rsa") == 0) {
            b.base = "alice-rsa";
        } else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc) {
            b.payload_path = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--limit-only") == 0) {
            limit_only = 1;
        } else if (strcmp(argv[i], "--xmlsec-only") == 0) {
            xmlsec_only = 1;
        } else {
            threads = -1;
        }
        if (threads < 0 || threads > 256 || b.seconds <= 0) {
            fprintf(stderr, "usage: bench_xmldsig [--seconds S] [--src DIR] [--rsa]"
                            " [--payload FILE] [--threads N] [--limit-only] [--xmlsec-only]\n");
            return 2;
        }
    }
    if (cw_sec_lib_init(&err) < 0 || setup(&b, src) < 0) {
        fprintf(stderr, "bench: set-up failed\n");
        /* The throwaway PKI's directory may exist already: not left behind. */
        if (b.dir[0] != '\0') {
            (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
            (void)system(cmd);
        }
        return 1;
    }
    printf("bench_xmldsig: %s envelope of %zu bytes%s%s, %.1f s per row\n",
           strstr(b.base, "rsa") != NULL ? "RSA-2048" : "ECDSA P-256", strlen(b.signed_env),
           b.payload_path != NULL ? ", payload " : "", b.payload_path != NULL ? b.payload_path : "",
           b.seconds);
    printf("%-44s %10s %8s\n", "operation", "ops/s", "ratio");
    if (xmlsec_only) {
        limit_row(&b, "xmlsec", plain_verify_sign, threads > 0 ? threads : 1);
    } else if (!limit_only) {
        ov = measure(&b, ours_verify);
        pv = measure(&b, plain_verify);
        ps_v = measure(&b, plain_verify_shared);
        os = measure(&b, ours_sign);
        ps = measure(&b, plain_sign);
        printf("%-44s %10.0f %8.2f\n", "verify: clearway (cached key, policy)", ov, 1.0);
        printf("%-44s %10.0f %8.2f\n", "verify: xmlsec, keys manager per message", pv, ov / pv);
        printf("%-44s %10.0f %8.2f\n", "verify: xmlsec, shared manager, KeyInfo", ps_v, ov / ps_v);
        printf("%-44s %10.0f %8.2f\n", "sign:   clearway (cached key)", os, 1.0);
        printf("%-44s %10.0f %8.2f\n", "sign:   xmlsec, key files per message", ps, os / ps);
        printf("%-44s %10.0f\n", "verify+sign: clearway (from the rows)",
               1.0 / (1.0 / ov + 1.0 / os));
        printf("%-44s %10.0f\n", "verify+sign: xmlsec examples", 1.0 / (1.0 / pv + 1.0 / ps));
    }
    if (!xmlsec_only) {
        limit_rows(&b, "clearway", ours_verify_sign, threads);
        limit_rows(&b, "xmlsec", plain_verify_sign, threads);
    }

    xmlSecKeysMngrDestroy(shared_mngr);
    xmlSecKeyDestroy(b.plain_pub);
    xmlSecKeyDestroy(b.plain_priv);
    cw_free(b.unsigned_env);
    cw_free(b.signed_env);
    cw_sec_keys_unref(b.alice);
    cw_sec_keys_unref(b.hub);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
    (void)system(cmd);
    cw_sec_lib_fini();
    return 0;
}
