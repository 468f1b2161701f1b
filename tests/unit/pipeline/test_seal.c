/*
 * The sealed envelope written straight in canonical form
 * (cw_pipeline__seal_write) against the tree it used to be built as
 * (cw_msg_forward_new + cw_pipeline__seal_finish): the same bytes, MessageId
 * and digest on every consignment and assessment of the test data, with
 * RSA (deterministic signatures) and ECDSA node keys; a form that is
 * canonical, verifies at the next hop and carries the same business
 * document where libxml2's copy renames prefixes; and the tree when c14n.c
 * cannot write the payload.
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/c14n.h>

#include "fixture.h"
#include "msg.h"
#include "pipeline/internal.h"
#include "sec.h"

static fx_t fx;
static cw_sec_keys_t *hub_ec;  /* the sealing node, ECDSA P-256 */
static cw_sec_keys_t *hub_rsa; /* the same node with its RSA key */
static cw_sec_keys_t *eu;      /* the next hop, with both hub certificates */

#define ENV_HEAD                                                               \
    "<Envelope xmlns=\"urn:clearway:envelope:1\"><Header>"                     \
    "<MessageId>in-1</MessageId><ConversationId>conv &amp; 1</ConversationId>" \
    "<From>alice</From><To>eu</To><Service>consignment</Service>"              \
    "<Action>submit</Action><Timestamp>2026-11-30T10:00:00Z</Timestamp>"       \
    "</Header><Payload>"
#define ENV_TAIL "</Payload></Envelope>"

static int keys_new(cw_sec_keys_t **out, const char *node, const char *base, int with_partner)
{
    char p[4][512];
    char name[64];
    const char *hub_certs[2];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_error_t err;
    int rc;

    memset(&conf, 0, sizeof(conf));
    conf.node_id = node;
    (void)snprintf(name, sizeof(name), "%s.key", base);
    conf.key_path = fx_path(&fx, name, p[0], sizeof(p[0]));
    (void)snprintf(name, sizeof(name), "%s.pem", base);
    conf.cert_path = fx_path(&fx, name, p[1], sizeof(p[1]));
    if (with_partner) {
        hub_certs[0] = fx_path(&fx, "hub.pem", p[2], sizeof(p[2]));
        hub_certs[1] = fx_path(&fx, "hub-rsa.pem", p[3], sizeof(p[3]));
        partner = (cw_sec_partner_conf_t){ "hub", hub_certs, 2, 0 };
        conf.partners = &partner;
        conf.partner_count = 1;
    }
    rc = cw_sec_keys_new(out, &conf, &err);
    if (rc < 0) {
        fprintf(stderr, "keys: %s\n", err.msg);
    }
    return rc;
}

static int group_setup(void **state)
{
    cw_error_t err;

    (void)state;
    if (cw_sec_lib_init(&err) < 0 || fx_init(&fx, "hub eu", NULL) < 0) {
        return -1;
    }
    if (keys_new(&hub_ec, "hub", "hub", 0) < 0 || keys_new(&hub_rsa, "hub", "hub-rsa", 0) < 0
        || keys_new(&eu, "eu", "eu", 1) < 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cw_sec_keys_unref(hub_ec);
    cw_sec_keys_unref(hub_rsa);
    cw_sec_keys_unref(eu);
    fx_fini(&fx);
    cw_sec_lib_fini();
    return 0;
}

/* A test data file's root element onwards (no declaration, no comment). */
static char *read_root(const char *path)
{
    FILE *f = fopen(path, "rb");
    cw_buf_t b;
    char chunk[4096];
    size_t n;
    char *s;
    char *p;

    assert_non_null(f);
    cw_buf_init(&b, 1u << 24);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        assert_int_equal(cw_buf_append(&b, chunk, n), 0);
    }
    fclose(f);
    s = cw_buf_detach(&b, &n);
    p = s;
    for (;;) {
        p = strchr(p, '<');
        assert_non_null(p);
        if (strncmp(p, "<?", 2) == 0) {
            p = strstr(p, "?>");
        } else if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
        } else {
            break;
        }
        assert_non_null(p);
    }
    memmove(s, p, strlen(p) + 1);
    return s;
}

typedef struct sealed {
    char *bytes;
    size_t len;
    char id[CW_MSG_ID_MAX];
    unsigned char digest[32];
    size_t evidence_at; /* where the received bytes' base64 begins, 0: not said */
} sealed_t;

typedef struct input {
    xmlDoc *received;
    xmlDoc *assessment;
    cw_msg_header_t hdr;
    cw_msg_forward_params_t params;
    char *text;
} input_t;

/* received_xml (owned by in afterwards) with this node's assessment_xml
 * (NULL: none). */
static void input_init(input_t *in, char *received_xml, const char *assessment_xml)
{
    cw_sec_problem_e problem;
    cw_error_t err;

    memset(in, 0, sizeof(*in));
    in->text = received_xml;
    assert_int_equal(cw_sec_xml_parse(&in->received, received_xml, strlen(received_xml), &fx.limits,
                                      &problem, &err),
                     0);
    assert_int_equal(cw_msg_header_read(&in->hdr, in->received, &err), 0);
    if (assessment_xml != NULL) {
        assert_int_equal(cw_sec_xml_parse(&in->assessment, assessment_xml, strlen(assessment_xml),
                                          &fx.limits, &problem, &err),
                         0);
    }
    in->params.node_id = "hub";
    in->params.to = "eu";
    in->params.message_id = "sealed-1";
    in->params.now_s = cw_time_wall_s();
    in->params.received = received_xml;
    in->params.received_len = strlen(received_xml);
    in->params.assessment = in->assessment != NULL ? xmlDocGetRootElement(in->assessment) : NULL;
}

static void input_fini(input_t *in)
{
    xmlFreeDoc(in->received);
    xmlFreeDoc(in->assessment);
    cw_free(in->text);
}

static void seal_tree(const cw_sec_keys_t *keys, const input_t *in, sealed_t *out)
{
    xmlDoc *fwd = NULL;
    cw_error_t err;

    memset(out, 0, sizeof(*out));
    assert_int_equal(cw_msg_forward_new(&fwd, in->received, &in->hdr, &in->params, &err), 0);
    assert_int_equal(
        cw_pipeline__seal_finish(keys, fwd, &out->bytes, &out->len, out->id, out->digest, &err), 0);
    xmlFreeDoc(fwd);
}

static int seal_written(const cw_sec_keys_t *keys, const input_t *in, sealed_t *out)
{
    cw_error_t err;
    size_t n = CW_BASE64_LEN(in->params.received_len);
    int rc;

    memset(out, 0, sizeof(*out));
    out->evidence_at = 1; /* overwritten either way */
    rc = cw_pipeline__seal_write(keys, in->received, &in->hdr, &in->params, &out->bytes, &out->len,
                                 out->id, out->digest, &out->evidence_at, &err);
    if (rc < 0) {
        assert_int_equal(out->evidence_at, 0);
        return rc;
    }
    /* What the store may keep once (cw_store_msg_t.outgoing_evidence_at):
     * the Content of the Evidence, the base64 of the bytes received. */
    assert_true(out->evidence_at > strlen("<Content>"));
    assert_true(out->evidence_at + n < out->len);
    assert_memory_equal(out->bytes + out->evidence_at - strlen("<Content>"), "<Content>",
                        strlen("<Content>"));
    assert_true(cw_base64_is(out->bytes + out->evidence_at, n, in->params.received,
                             in->params.received_len));
    assert_memory_equal(out->bytes + out->evidence_at + n, "</Content>", strlen("</Content>"));
    return rc;
}

/* s without the text of its SignatureValue (ECDSA signatures are random). */
static char *without_signature_value(const char *s)
{
    const char *a = strstr(s, "<ds:SignatureValue>");
    const char *b = a != NULL ? strstr(a, "</ds:SignatureValue>") : NULL;
    size_t head;
    char *r;

    assert_non_null(b);
    head = (size_t)(a - s) + strlen("<ds:SignatureValue>");
    r = cw_malloc(strlen(s) + 1);
    assert_non_null(r);
    memcpy(r, s, head);
    memcpy(r + head, b, strlen(b) + 1);
    return r;
}

/* What a receiver checks: the bytes are their own exclusive canonical form,
 * the digest is theirs, and the next hop verifies them with hub's key. */
static void check_sent(const sealed_t *s)
{
    unsigned char d[32];
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;
    cw_sec_problem_e problem;
    cw_error_t err;
    xmlDoc *doc = NULL;
    xmlChar *c14n = NULL;
    int n;

    assert_int_equal(s->bytes[s->len], '\0');
    assert_int_equal(EVP_Digest(s->bytes, s->len, d, NULL, EVP_sha256(), NULL), 1);
    assert_memory_equal(d, s->digest, 32);
    assert_int_equal(cw_sec_xml_parse(&doc, s->bytes, s->len, &fx.limits, &problem, &err), 0);
    n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c14n);
    assert_true(n > 0);
    if ((size_t)n != s->len || memcmp(c14n, s->bytes, s->len) != 0) {
        fail_msg("not canonical:\n%s\nlibxml2:\n%s", s->bytes, (const char *)c14n);
    }
    xmlFree(c14n);
    opts.want_doc_sha256 = 1;
    memset(&v, 0, sizeof(v));
    if (cw_sec_envelope_verify(&v, eu, doc, &opts, &err) < 0) {
        fail_msg("the next hop refused it (%s): %s", cw_sec_problem_slug(v.problem), err.msg);
    }
    assert_string_equal(v.from, "hub");
    if (v.has_doc_sha256) {
        assert_memory_equal(v.doc_sha256, s->digest, 32);
    }
    xmlFreeDoc(doc);
}

static int same_list(const xmlNode *a, const xmlNode *b);

/* Whether a and b are the same element trees: names, namespace URIs,
 * attributes and text (prefixes and comments aside). */
static int same_tree(const xmlNode *a, const xmlNode *b)
{
    const xmlAttr *x;
    int n = 0;

    if (a == NULL || b == NULL || a->type != b->type || !xmlStrEqual(a->name, b->name)
        || !xmlStrEqual(a->ns != NULL ? a->ns->href : NULL, b->ns != NULL ? b->ns->href : NULL)) {
        return 0;
    }
    if (a->type == XML_TEXT_NODE) {
        return xmlStrEqual(a->content, b->content);
    }
    for (x = a->properties; x != NULL; x = x->next, n++) {
        xmlChar *va = xmlNodeGetContent((const xmlNode *)x);
        xmlChar *vb = xmlGetNsProp(b, x->name, x->ns != NULL ? x->ns->href : NULL);
        int same = vb != NULL && xmlStrEqual(va, vb);

        xmlFree(va);
        xmlFree(vb);
        if (!same) {
            return 0;
        }
    }
    for (x = b->properties; x != NULL; x = x->next) {
        n--;
    }
    return n == 0 && same_list(a->children, b->children);
}

static int same_list(const xmlNode *a, const xmlNode *b)
{
    for (;;) {
        while (a != NULL && a->type == XML_COMMENT_NODE) {
            a = a->next;
        }
        while (b != NULL && b->type == XML_COMMENT_NODE) {
            b = b->next;
        }
        if (a == NULL || b == NULL) {
            return a == b;
        }
        if (!same_tree(a, b)) {
            return 0;
        }
        a = a->next;
        b = b->next;
    }
}

/* The n-th Assessment of doc's Payload, or NULL. */
static const xmlNode *assessment_at(const xmlDoc *doc, int n)
{
    const xmlNode *p = cw_msg_business_doc(doc);

    for (; p != NULL; p = p->next) {
        if (cw_msg_is_assessment(p) && n-- == 0) {
            return p;
        }
    }
    return NULL;
}

/* What the written seal keeps of received: the business document and
 * every earlier Assessment, as they were (prefixes aside); and it is what a
 * receiver checks. */
static void check_faithful(const input_t *in, const sealed_t *written)
{
    cw_sec_problem_e problem;
    cw_error_t err;
    xmlDoc *doc = NULL;

    check_sent(written);
    assert_int_equal(
        cw_sec_xml_parse(&doc, written->bytes, written->len, &fx.limits, &problem, &err), 0);
    assert_true(same_tree(cw_msg_business_doc(in->received), cw_msg_business_doc(doc)));
    for (int i = 0; assessment_at(in->received, i) != NULL; i++) {
        assert_true(same_tree(assessment_at(in->received, i), assessment_at(doc, i)));
    }
    xmlFreeDoc(doc);
}

/* Both ways, with both keys: the same bytes (RSA), the same but for the
 * signature value (ECDSA), and what a receiver checks. */
static void check_same(const input_t *in, const char *what, int verify)
{
    sealed_t tree;
    sealed_t written;

    seal_tree(hub_rsa, in, &tree);
    assert_int_equal(seal_written(hub_rsa, in, &written), 0);
    if (tree.len != written.len || memcmp(tree.bytes, written.bytes, tree.len) != 0) {
        fail_msg("%s: written\n%s\ntree:\n%s", what, written.bytes, tree.bytes);
    }
    assert_string_equal(tree.id, "sealed-1");
    assert_string_equal(written.id, tree.id);
    assert_memory_equal(written.digest, tree.digest, 32);
    if (verify) {
        check_sent(&written);
    }
    cw_free(tree.bytes);
    cw_free(written.bytes);
    if (!verify) {
        return;
    }

    seal_tree(hub_ec, in, &tree);
    assert_int_equal(seal_written(hub_ec, in, &written), 0);
    {
        char *a = without_signature_value(tree.bytes);
        char *b = without_signature_value(written.bytes);

        if (strcmp(a, b) != 0) {
            fail_msg("%s (ECDSA): written\n%s\ntree:\n%s", what, b, a);
        }
        cw_free(a);
        cw_free(b);
    }
    check_sent(&written);
    check_sent(&tree);
    cw_free(tree.bytes);
    cw_free(written.bytes);
}

static char *envelope_with(const char *business, const char *earlier)
{
    cw_buf_t b;
    size_t len;

    cw_buf_init(&b, 1u << 24);
    assert_int_equal(cw_buf_appendf(&b, "%s%s%s%s", ENV_HEAD, business,
                                    earlier != NULL ? earlier : "", ENV_TAIL),
                     0);
    return cw_buf_detach(&b, &len);
}

static void test_seal__same_bytes_as_the_tree_on_the_test_data(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    char dir[512];
    DIR *d;
    struct dirent *e;
    int consignments = 0;

    (void)state;
    assert_non_null(src);
    (void)snprintf(dir, sizeof(dir), "%s/tests/data/consignments", src);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        char apath[1024];
        char *business;
        char *assessment = NULL;
        char *earlier = NULL;
        const char *dot = strrchr(e->d_name, '.');
        size_t stem;
        DIR *d2;
        struct dirent *e2;
        input_t in;

        if (dot == NULL || strcmp(dot, ".xml") != 0 || strstr(e->d_name, ".assessment.") != NULL) {
            continue;
        }
        stem = (size_t)(dot - e->d_name);
        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        business = read_root(path);
        /* Its first assessment, as this node's and as an earlier node's. */
        d2 = opendir(dir);
        assert_non_null(d2);
        while (assessment == NULL && (e2 = readdir(d2)) != NULL) {
            if (strncmp(e2->d_name, e->d_name, stem) == 0 && e2->d_name[stem] == '.'
                && strstr(e2->d_name, ".assessment.xml") != NULL) {
                (void)snprintf(apath, sizeof(apath), "%s/%s", dir, e2->d_name);
                assessment = read_root(apath);
            }
        }
        closedir(d2);

        input_init(&in, envelope_with(business, NULL), NULL);
        check_same(&in, e->d_name, 1);
        input_fini(&in);
        if (assessment != NULL) {
            cw_buf_t b;
            size_t len;
            sealed_t written;

            input_init(&in, envelope_with(business, NULL), assessment);
            check_same(&in, e->d_name, 1);
            input_fini(&in);

            cw_buf_init(&b, 1u << 24);
            assert_int_equal(cw_buf_appendf(&b,
                                            "<Assessment node=\"eu &quot;ops&quot;\">%s"
                                            "</Assessment>",
                                            assessment),
                             0);
            earlier = cw_buf_detach(&b, &len);
            /* An earlier node's assessment: libxml2's copy renames its
             * default namespace (test_seal__keeps_the_senders_namespaces). */
            input_init(&in, envelope_with(business, earlier), assessment);
            assert_int_equal(seal_written(hub_ec, &in, &written), 0);
            check_faithful(&in, &written);
            cw_free(written.bytes);
            input_fini(&in);
        }
        consignments++;
        cw_free(earlier);
        cw_free(assessment);
        cw_free(business);
    }
    closedir(d);
    assert_true(consignments >= 8);
}

/* Every escape, prefixes on elements and attributes, a PI, CDATA and a
 * comment, a payload in no namespace, an xml:lang: still the tree's bytes. */
static void test_seal__same_bytes_on_tricky_payloads(void **state)
{
    static const char *const payloads[] = {
        "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\" xmlns:x=\"urn:x\""
        " x:a=\"1 &amp; &lt;&#9;&#10;&#13;\" b=\"&quot;'&gt;\" xml:lang=\"de\">"
        "<c:Item>t &gt; &amp; &#xD; <![CDATA[<raw>&]]><!-- c --><?pi some data?></c:Item>"
        "<x:Other c:attr=\"v\"/></c:Consignment>",
        "<Order xmlns=\"\"><Line n=\"1\">\xe2\x82\xac 5</Line><Line/></Order>",
        "<Consignment xmlns=\"urn:clearway:consignment:1\">  \n  <Id>1</Id>\n</Consignment>",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        input_t in;
        char what[32];

        (void)snprintf(what, sizeof(what), "payload %zu", i);
        input_init(&in, envelope_with(payloads[i], NULL),
                   "<Assessment xmlns=\"urn:clearway:assessment:1\"><Lane>green</Lane>"
                   "</Assessment>");
        check_same(&in, what, 1);
        /* A node id to escape in the Assessment's attribute (and the
         * From no partner has: compared, not verified). */
        in.params.node_id = "hub <&\"\t\n>";
        check_same(&in, what, 0);
        input_fini(&in);
    }
}

/*
 * libxml2's copy takes, for every namespace in the copied subtree, the
 * first declaration of its URI in scope: a default namespace declared
 * again inside the payload comes out under a made-up prefix, and a payload
 * in no namespace under a prefixed envelope lands in the envelope's
 * namespace. The written form keeps what the sender wrote: canonical,
 * verified, and the same document as received.
 */
static void test_seal__keeps_the_senders_namespaces(void **state)
{
    static const char *const received[] = {
        ENV_HEAD "<A xmlns=\"urn:x\"><B xmlns=\"urn:y\"><C/></B><D>d</D></A>" ENV_TAIL,
        "<e:Envelope xmlns:e=\"urn:clearway:envelope:1\"><e:Header>"
        "<e:MessageId>in-2</e:MessageId><e:ConversationId>c</e:ConversationId>"
        "<e:From>alice</e:From><e:To>eu</e:To><e:Service>s</e:Service><e:Action>a</e:Action>"
        "<e:Timestamp>2026-11-30T10:00:00Z</e:Timestamp></e:Header><e:Payload>"
        "<Order><Line>1</Line></Order></e:Payload></e:Envelope>",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(received) / sizeof(received[0]); i++) {
        sealed_t tree;
        sealed_t written;
        cw_sec_problem_e problem;
        cw_error_t err;
        xmlDoc *doc = NULL;
        input_t in;
        char *copy = cw_strdup(received[i]);

        assert_non_null(copy);
        input_init(&in, copy, NULL);
        seal_tree(hub_ec, &in, &tree);
        assert_int_equal(seal_written(hub_ec, &in, &written), 0);
        check_faithful(&in, &written);
        /* The tree's copy is another document: the reason for this test. */
        assert_int_equal(cw_sec_xml_parse(&doc, tree.bytes, tree.len, &fx.limits, &problem, &err),
                         0);
        if (i == 0) {
            assert_non_null(strstr(tree.bytes, "<default:B"));
            assert_non_null(strstr(written.bytes, "<B xmlns=\"urn:y\">"));
        } else {
            assert_false(same_tree(cw_msg_business_doc(in.received), cw_msg_business_doc(doc)));
            assert_non_null(strstr(written.bytes, "<Order xmlns=\"\">"));
        }
        xmlFreeDoc(doc);
        cw_free(tree.bytes);
        cw_free(written.bytes);
        input_fini(&in);
    }
}

/* An element with more attributes than c14n.c takes: the writer hands it
 * to the tree (CW_EAGAIN, nothing out), and cw_pipeline__seal seals it so. */
static void test_seal__tree_when_c14n_cannot(void **state)
{
    cw_buf_t wide;
    sealed_t tree;
    sealed_t written;
    sealed_t sealed;
    cw_error_t err;
    input_t in;
    size_t len;

    (void)state;
    cw_buf_init(&wide, 1u << 20);
    assert_int_equal(cw_buf_appends(&wide, ENV_HEAD "<wide"), 0);
    for (int i = 0; i < 65; i++) {
        assert_int_equal(cw_buf_appendf(&wide, " a%d=\"%d\"", i, i), 0);
    }
    assert_int_equal(cw_buf_appends(&wide, "><x/></wide>" ENV_TAIL), 0);
    input_init(&in, cw_buf_detach(&wide, &len), NULL);
    assert_int_equal(seal_written(hub_rsa, &in, &written), CW_EAGAIN);
    assert_null(written.bytes);
    assert_int_equal(written.len, 0);
    seal_tree(hub_rsa, &in, &tree);
    memset(&sealed, 0, sizeof(sealed));
    sealed.evidence_at = 1;
    assert_int_equal(cw_pipeline__seal(hub_rsa, in.received, &in.hdr, &in.params, &sealed.bytes,
                                       &sealed.len, sealed.id, sealed.digest, &sealed.evidence_at,
                                       &err),
                     0);
    assert_int_equal(sealed.evidence_at, 0); /* the tree's offsets are not known */
    assert_int_equal(sealed.len, tree.len);
    assert_memory_equal(sealed.bytes, tree.bytes, tree.len);
    assert_string_equal(sealed.id, "sealed-1");
    check_sent(&sealed);
    cw_free(tree.bytes);
    cw_free(sealed.bytes);
    input_fini(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal__same_bytes_as_the_tree_on_the_test_data),
        cmocka_unit_test(test_seal__same_bytes_on_tricky_payloads),
        cmocka_unit_test(test_seal__keeps_the_senders_namespaces),
        cmocka_unit_test(test_seal__tree_when_c14n_cannot),
    };

    return cmocka_run_group_tests_name("pipeline_seal", tests, group_setup, group_teardown);
}
