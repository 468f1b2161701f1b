/*
 * Fuzz target: Clearway's exclusive C14N (sec/c14n.c) against libxml2's
 * xmlC14NExecute, on every document cw_sec_xml_parse accepts: the whole
 * document, then, for up to 32 elements picked by the input's first byte,
 * the element as the apex (SignedInfo's case) and the document without
 * the element (the enveloped signature's case), and that the second with
 * the element's own form spliced back in is the whole (how the node
 * digests what it has just signed).
 *
 * The same input is also read as a program that builds a tree with the
 * tree API, the way receipts and sealed envelopes are built: elements,
 * attributes, namespaces (prefixes and URIs from small sets, so that ties,
 * rebindings and shadowing happen), text with the characters C14N
 * escapes, CDATA, PIs, comments and the odd entity reference. Parsed
 * documents never hold duplicate attributes or two bindings of a prefix on
 * one element; built trees can, and libxml2's orders then decide.
 *
 * A difference in bytes is a finding: receivers verify what this node
 * signs with libxml2's canonical form. So is c14n.c producing output for
 * a tree libxml2 refuses, or answering anything but CW_EINVAL when it
 * leaves a tree to libxml2.
 *
 * Each picked element of a parsed document is also written out of its
 * tree, as the node writes a received payload into the envelope it seals
 * (cw_sec_c14n_put_elem): the bytes must be the canonical form of the
 * document they make. (Built trees can hold what no parse makes, such as
 * an attribute in a namespace without a prefix, which a parse of the
 * written form cannot give back.)
 *
 * Last, each tree is signed as the node signs what it sends
 * (cw_sec_doc_sign_c14n, with a P-256 key made at start-up): the bytes it
 * hands out must be libxml2's canonical form of the signed tree, and the
 * digest their SHA-256. A tree it refuses to sign (one already signed, or
 * one libxml2 cannot canonicalise) is not a finding.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/c14n.h>
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "sec.h"
#include "sec/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PICKS_MAX 32
/* Built trees: instructions read, elements picked (a bound on the time). */
#define BUILD_STEPS_MAX 96
#define BUILD_PICKS_MAX 8

static cw_conf_limits_t limits;
static cw_sec_keys_t *signer; /* the node key of sign_check */

static void finding(const char *what, const cw_buf_t *ours, const cw_buf_t *ref)
{
    fprintf(stderr, "fuzz_c14n: %s\nc14n.c:  %.*s\nlibxml2: %.*s\n", what,
            ours != NULL ? (int)ours->len : 0, ours != NULL && ours->data ? ours->data : "",
            ref != NULL ? (int)ref->len : 0, ref != NULL && ref->data ? ref->data : "");
    abort();
}

static void compare(xmlDoc *doc, const xmlNode *top, const xmlNode *skip)
{
    xmlOutputBuffer *buf = xmlAllocOutputBuffer(NULL);
    cw_buf_t ours;
    cw_buf_t ref;
    int rc;
    int n;

    if (buf == NULL) {
        return;
    }
    cw_buf_init(&ours, (size_t)64 << 20);
    cw_buf_init(&ref, (size_t)64 << 20);
    n = cw_sec__c14n_libxml2(buf, doc, top, skip, XML_C14N_EXCLUSIVE_1_0);
    if (n >= 0
        && cw_buf_append(&ref, xmlOutputBufferGetContent(buf), xmlOutputBufferGetSize(buf)) < 0) {
        n = -1; /* out of memory: nothing to compare */
        rc = CW_EINVAL;
        goto out;
    }
    rc = cw_sec__exc_c14n(&ours, top, skip);
    if (rc == 0 && n < 0) {
        finding("canonicalised a tree libxml2 refuses", &ours, NULL);
    }
    if (rc == 0
        && (ours.len != ref.len || (ours.len > 0 && memcmp(ours.data, ref.data, ours.len) != 0))) {
        finding("canonical forms differ", &ours, &ref);
    }
    if (rc < 0 && rc != CW_EINVAL && rc != CW_ENOMEM && rc != CW_E2BIG) {
        finding("unexpected error code", NULL, NULL);
    }
out:
    (void)xmlOutputBufferClose(buf);
    cw_buf_fini(&ours);
    cw_buf_fini(&ref);
}

/*
 * The document without elem, with elem's canonical form in its document
 * spliced in where it was left out, must be the whole document's
 * (cw_sec_doc_sign_c14n's splice; compare() has checked the whole
 * against libxml2). Not for the root, which in_doc refuses.
 */
static void splice(xmlDoc *doc, const xmlNode *elem)
{
    cw_buf_t whole;
    cw_buf_t without;
    cw_buf_t mid;
    size_t at = 0;
    int a;
    int b;

    if (elem->parent == NULL || elem->parent->type != XML_ELEMENT_NODE) {
        return;
    }
    cw_buf_init(&whole, (size_t)64 << 20);
    cw_buf_init(&without, (size_t)64 << 20);
    cw_buf_init(&mid, (size_t)64 << 20);
    if (cw_sec__exc_c14n(&whole, (const xmlNode *)doc, NULL) == 0) {
        a = cw_sec__exc_c14n_at(&without, (const xmlNode *)doc, elem, &at);
        b = cw_sec__exc_c14n_in_doc(&mid, elem);
        if (a == CW_ENOMEM || a == CW_E2BIG || b == CW_ENOMEM || b == CW_E2BIG) {
            goto out;
        }
        if (a != 0 || b != 0 || at > without.len) {
            finding("a whole tree c14n.c takes, but not its two halves", &whole, NULL);
        }
        if (without.len + mid.len != whole.len
            || (at > 0 && memcmp(without.data, whole.data, at) != 0)
            || (mid.len > 0 && memcmp(mid.data, whole.data + at, mid.len) != 0)
            || (without.len > at
                && memcmp(without.data + at, whole.data + at + mid.len, without.len - at) != 0)) {
            finding("the splice differs from the whole", &mid, &whole);
        }
    }
out:
    cw_buf_fini(&whole);
    cw_buf_fini(&without);
    cw_buf_fini(&mid);
}

static size_t elements(const xmlNode *n, const xmlNode **out, size_t len)
{
    for (; n != NULL && len < 4096; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            out[len++] = n;
            len = elements(n->children, out, len);
        }
    }
    return len;
}

/* Builds a tree from data, one instruction per two bytes. */
static xmlDoc *build(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = { NULL, "p", "q", "xml", "a" };
    static const char *const uris[] = { "urn:a", "urn:b", "http://www.w3.org/XML/1998/namespace",
                                        "", "urn:a" };
    static const char *const names[] = { "a", "b", "z", "id", "lang" };
    static const char *const texts[] = { "x", "a&b", "<>\"'", "\r\n\t", "caf\xc3\xa9", "" };
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root;
    xmlNode *cur;
    xmlNs *nss[16];
    size_t n_ns = 0;

    if (doc == NULL) {
        return NULL;
    }
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"r", NULL);
    if (root == NULL) {
        xmlFreeDoc(doc);
        return NULL;
    }
    (void)xmlDocSetRootElement(doc, root);
    cur = root;
    for (size_t i = 0; i + 1 < size && i < BUILD_STEPS_MAX * 2; i += 2) {
        unsigned op = data[i] % 10;
        unsigned arg = data[i + 1];
        xmlNs *ns = n_ns > 0 && (arg & 0x80) ? nss[arg % n_ns] : NULL;
        xmlNode *n = NULL;

        switch (op) {
        case 0: /* a child element, and go into it */
        case 1:
            n = xmlNewChild(cur, ns, (const xmlChar *)names[arg % 5], NULL);
            if (n != NULL && op == 0) {
                cur = n;
            }
            break;
        case 2: /* back up */
            if (cur != root) {
                cur = cur->parent;
            }
            break;
        case 3: /* declare a namespace here */
            if (n_ns < 16) {
                xmlNs *d = xmlNewNs(cur, (const xmlChar *)uris[arg % 5],
                                    (const xmlChar *)prefixes[(arg >> 3) % 5]);

                if (d != NULL) {
                    nss[n_ns++] = d;
                }
            }
            break;
        case 4: /* put this element in a namespace */
            xmlSetNs(cur, ns);
            break;
        case 5: /* an attribute */
            (void)xmlNewNsProp(cur, ns, (const xmlChar *)names[arg % 5],
                               (const xmlChar *)texts[(arg >> 3) % 6]);
            break;
        case 6: /* text */
            n = xmlNewText((const xmlChar *)texts[arg % 6]);
            break;
        case 7: /* CDATA or a comment */
            n = (arg & 1) ? xmlNewCDataBlock(doc, (const xmlChar *)texts[(arg >> 1) % 6], -1)
                          : xmlNewDocComment(doc, (const xmlChar *)texts[(arg >> 1) % 6]);
            break;
        case 8: /* a PI, here or at document level */
            n = xmlNewDocPI(doc, (const xmlChar *)"pi", (const xmlChar *)texts[arg % 6]);
            if (n != NULL && (arg & 0x40)) {
                if ((arg & 0x20) ? xmlAddPrevSibling(root, n) == NULL
                                 : xmlAddNextSibling(root, n) == NULL) {
                    xmlFreeNode(n);
                }
                n = NULL;
            }
            break;
        default: /* rarely, an entity reference */
            n = arg < 8 ? xmlNewReference(doc, (const xmlChar *)"&e;") : NULL;
            break;
        }
        if (n != NULL && op >= 6 && xmlAddChild(cur, n) == NULL) {
            xmlFreeNode(n);
        }
    }
    return doc;
}

/*
 * elem written out of its tree under an element with a default namespace,
 * as the node writes a payload into the envelope it seals
 * (cw_sec_c14n_put_elem): what it writes must be the canonical form of the
 * document it makes. A form that does not parse is not a finding: libxml2
 * writes a namespace URI as it is, "&" and "<" included, and c14n.c does
 * the same, in a tree or out of it.
 */
static void under_check(const xmlNode *elem)
{
    static const char ns[] = "urn:clearway:envelope:1";
    cw_buf_t ours;
    xmlDoc *again = NULL;
    xmlChar *ref = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    int rc;
    int n;

    cw_buf_init(&ours, (size_t)64 << 20);
    rc = cw_buf_appendf(&ours, "<E xmlns=\"%s\">", ns);
    if (rc == 0) {
        rc = cw_sec_c14n_put_elem(&ours, elem, ns);
        if (rc < 0 && rc != CW_EINVAL && rc != CW_ENOMEM && rc != CW_E2BIG) {
            finding("unexpected error code out of the tree", NULL, NULL);
        }
    }
    if (rc == 0) {
        rc = cw_buf_appends(&ours, "</E>");
    }
    if (rc == 0 && cw_sec_xml_parse(&again, ours.data, ours.len, &limits, &problem, &err) == 0) {
        n = xmlC14NDocDumpMemory(again, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &ref);
        if (n < 0 || (size_t)n != ours.len || memcmp(ref, ours.data, ours.len) != 0) {
            cw_buf_t lib = { (char *)ref, n > 0 ? (size_t)n : 0, 0, 0 };

            finding("written out of its tree, not the canonical form of what it makes", &ours,
                    &lib);
        }
        xmlFree(ref);
        xmlFreeDoc(again);
    }
    cw_buf_fini(&ours);
}

static void compare_all(xmlDoc *doc, const uint8_t *data, size_t size, size_t picks, int parsed)
{
    static const xmlNode *elems[4096];
    size_t n;
    size_t step;

    compare(doc, (const xmlNode *)doc, NULL);
    n = elements(doc->children, elems, 0);
    /* Every element of a small tree; a spread of a large one. */
    step = n <= picks ? 1 : n / picks;
    for (size_t i = size > 0 ? data[0] % step : 0; i < n; i += step) {
        compare(doc, elems[i], NULL);
        compare(doc, (const xmlNode *)doc, elems[i]);
        splice(doc, elems[i]);
        if (parsed) {
            under_check(elems[i]);
        }
    }
}

/* Signs doc as the node signs what it sends and checks the bytes. */
static void sign_check(xmlDoc *doc)
{
    char *bytes = NULL;
    size_t len = 0;
    unsigned char digest[32];
    unsigned char sha[32];
    xmlChar *ref = NULL;
    int ref_len;
    cw_error_t err;

    cw_error_clear(&err);
    if (cw_sec_doc_sign_c14n(signer, doc, &bytes, &len, digest, &err) < 0) {
        if (bytes != NULL) {
            finding("signing failed but handed out bytes", NULL, NULL);
        }
        return;
    }
    ref_len = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &ref);
    if (ref_len < 0 || (size_t)ref_len != len || memcmp(ref, bytes, len) != 0) {
        cw_buf_t ours = { bytes, len, len + 1, len };
        cw_buf_t lib = { (char *)ref, ref_len > 0 ? (size_t)ref_len : 0, 0, 0 };

        finding("the signed bytes are not libxml2's canonical form of the signed tree", &ours,
                &lib);
    }
    if (EVP_Digest(bytes, len, sha, NULL, EVP_sha256(), NULL) != 1
        || memcmp(sha, digest, sizeof(sha)) != 0) {
        finding("the digest is not the SHA-256 of the signed bytes", NULL, NULL);
    }
    xmlFree(ref);
    cw_free(bytes);
}

/* A P-256 node key and a self-signed certificate, loaded as the node loads
 * them (cw_sec_keys_new), the files deleted at once. */
static void signer_make(void)
{
    char dir[512];
    char key_path[600];
    char cert_path[600];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    int64_t now = (int64_t)time(NULL);
    X509 *cert;
    cw_sec_keys_conf_t conf;
    cw_error_t err;

    if (key == NULL) {
        fprintf(stderr, "fuzz_c14n: start-up failed: key generation\n");
        exit(1);
    }
    cert = cw_fuzz_cert_make("fuzz_c14n", key, "fuzz", 1, NULL, NULL, now - 86400,
                             now + 10 * 365 * 86400);
    cw_fuzz_tempdir("fuzz_c14n", dir, sizeof(dir));
    (void)snprintf(key_path, sizeof(key_path), "%s/node.key", dir);
    (void)snprintf(cert_path, sizeof(cert_path), "%s/node.pem", dir);
    cw_fuzz_pem_write("fuzz_c14n", key_path, key, NULL);
    cw_fuzz_pem_write("fuzz_c14n", cert_path, NULL, cert);
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "fuzz";
    conf.key_path = key_path;
    conf.cert_path = cert_path;
    cw_error_clear(&err);
    if (cw_sec_keys_new(&signer, &conf, &err) < 0) {
        fprintf(stderr, "fuzz_c14n: start-up failed: %s\n", err.msg);
        exit(1);
    }
    (void)unlink(key_path);
    (void)unlink(cert_path);
    (void)rmdir(dir);
    X509_free(cert);
    EVP_PKEY_free(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cw_fuzz_sec_init("fuzz_c14n", &limits);
    signer_make();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_error_t err;

    cw_error_clear(&err);
    if (cw_sec_xml_parse(&doc, (const char *)data, size, &limits, &problem, &err) == 0) {
        compare_all(doc, data, size, PICKS_MAX, 1);
        sign_check(doc);
        xmlFreeDoc(doc);
    }
    doc = build(data, size);
    if (doc != NULL) {
        compare_all(doc, data, size, BUILD_PICKS_MAX, 0);
        sign_check(doc);
        xmlFreeDoc(doc);
    }
    return 0;
}
