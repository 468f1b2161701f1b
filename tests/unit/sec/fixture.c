#include "fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int fx_run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1) {
        return -1;
    }
    return (st >> 8) & 0xff;
}

int fx_init(fx_t *fx, const char *names, const char *expired_names)
{
    const char *src = getenv("CLEARWAY_SRC");
    const char *tmp = getenv("TMPDIR");

    memset(fx, 0, sizeof(*fx));
    cw_config_limits_default(&fx->limits);
    (void)snprintf(fx->dir, sizeof(fx->dir), "%s/cw-sec-test.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        return -1;
    }
    if (src == NULL) {
        src = ".";
    }
    if (fx_run("'%s/certs/make-dev-pki' '%s' %s", src, fx->dir, names) != 0) {
        return -1;
    }
    if (expired_names != NULL
        && fx_run("'%s/certs/make-dev-pki' --expired '%s' %s", src, fx->dir, expired_names) != 0) {
        return -1;
    }
    return 0;
}

void fx_fini(fx_t *fx)
{
    if (fx->dir[0] != '\0') {
        (void)fx_run("rm -rf '%s'", fx->dir);
    }
}

const char *fx_path(const fx_t *fx, const char *name, char *out, size_t size)
{
    (void)snprintf(out, size, "%s/%s", fx->dir, name);
    return out;
}

int fx_write(const fx_t *fx, const char *name, const char *data, size_t len)
{
    char p[512];
    FILE *f = fopen(fx_path(fx, name, p, sizeof(p)), "wb");
    int rc = 0;

    if (f == NULL) {
        return -1;
    }
    if (fwrite(data, 1, len, f) != len) {
        rc = -1;
    }
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

char *fx_read(const fx_t *fx, const char *name, size_t *len_out)
{
    char p[512];
    cw_buf_t b;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(fx_path(fx, name, p, sizeof(p)), "rb");

    if (f == NULL) {
        return NULL;
    }
    cw_buf_init(&b, 64u * 1024u * 1024u);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (cw_buf_append(&b, chunk, n) < 0) {
            break;
        }
    }
    (void)fclose(f);
    if (b.data == NULL && cw_buf_append(&b, "", 0) < 0) {
        return NULL;
    }
    return cw_buf_detach(&b, len_out);
}

char *fx_envelope(const char *from, int64_t ts_s, const char *from_markup)
{
    /* Every envelope gets its own MessageId: a node dedupes on it. */
    static unsigned serial;
    cw_buf_t b;
    char ts[32];

    cw_time_format_utc(ts, sizeof(ts), ts_s);
    cw_buf_init(&b, 1u << 20);
    if (cw_buf_appendf(&b,
                       "<Envelope xmlns=\"urn:clearway:envelope:1\"><Header>"
                       "<MessageId>m-%u</MessageId><ConversationId>c-1</ConversationId>"
                       "<From>%s</From><To>hub</To><Service>ecommerce</Service>"
                       "<Action>consignment</Action><Timestamp>%s</Timestamp></Header>"
                       "<Payload><c:Consignment xmlns:c=\"urn:clearway:consignment:1\" Id=\"c1\">"
                       "<c:Value currency=\"EUR\">100.00</c:Value></c:Consignment></Payload>"
                       "</Envelope>",
                       ++serial, from_markup != NULL ? from_markup : from, ts)
        < 0) {
        cw_buf_fini(&b);
        return NULL;
    }
    return cw_buf_detach(&b, NULL);
}

char *fx_sign(const fx_t *fx, const char *base, const char *from, const char *xml)
{
    return fx_sign_profile(fx, base, from, xml, CW_SEC_SIGN_CLEARWAY);
}

char *fx_sign_profile(const fx_t *fx,
                      const char *base,
                      const char *from,
                      const char *xml,
                      cw_sec_sign_profile_e profile)
{
    char key[512];
    char cert[512];
    char name[128];
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    xmlDoc *doc = NULL;
    char *out = NULL;
    size_t len;

    memset(&conf, 0, sizeof(conf));
    (void)snprintf(name, sizeof(name), "%s.key", base);
    conf.key_path = fx_path(fx, name, key, sizeof(key));
    (void)snprintf(name, sizeof(name), "%s.pem", base);
    conf.cert_path = fx_path(fx, name, cert, sizeof(cert));
    conf.node_id = from;
    if (cw_sec_keys_new(&keys, &conf, &err) < 0) {
        fprintf(stderr, "fx_sign: %s\n", err.msg);
        goto out;
    }
    if (cw_sec_xml_parse(&doc, xml, strlen(xml), &fx->limits, &problem, &err) < 0) {
        fprintf(stderr, "fx_sign: %s\n", err.msg);
        goto out;
    }
    if (cw_sec_doc_sign_profile(keys, doc, profile, &err) < 0) {
        fprintf(stderr, "fx_sign: %s\n", err.msg);
        goto out;
    }
    if (cw_sec_xml_serialize(&out, &len, doc) < 0) {
        out = NULL;
    }
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_sec_keys_unref(keys);
    return out;
}

char *fx_replace(const char *s, const char *what, const char *with)
{
    const char *p = strstr(s, what);
    cw_buf_t b;

    if (p == NULL) {
        return NULL;
    }
    cw_buf_init(&b, 1u << 24);
    if (cw_buf_append(&b, s, (size_t)(p - s)) < 0 || cw_buf_appends(&b, with) < 0
        || cw_buf_appends(&b, p + strlen(what)) < 0) {
        cw_buf_fini(&b);
        return NULL;
    }
    return cw_buf_detach(&b, NULL);
}

char *fx_cut(const char *s, const char *a, const char *b, char **cut_out)
{
    const char *p = strstr(s, a);
    const char *q = p != NULL ? strstr(p, b) : NULL;
    cw_buf_t out;

    *cut_out = NULL;
    if (q == NULL) {
        return NULL;
    }
    q += strlen(b);
    *cut_out = cw_strndup(p, (size_t)(q - p));
    cw_buf_init(&out, 1u << 24);
    if (cw_buf_append(&out, s, (size_t)(p - s)) < 0 || cw_buf_appends(&out, q) < 0) {
        cw_buf_fini(&out);
        return NULL;
    }
    return cw_buf_detach(&out, NULL);
}

/* An envelope from from, signed by base (key and cert) as party from. */
char *fx_signed_envelope(const fx_t *fx, const char *base, const char *from)
{
    char *env = fx_envelope(from, cw_time_wall_s(), NULL);
    char *out;

    if (env == NULL) {
        return NULL;
    }
    out = fx_sign(fx, base, from, env);
    cw_free(env);
    return out;
}

/*
 * An envelope with a hand-made signature template, signed by the xmlsec1
 * command with key_args (e.g. "--privkey-pem alice.key,alice.pem").
 * Returns the signed text, or NULL if xmlsec1 refused to sign.
 */
char *fx_xmlsec1_signed(const fx_t *fx,
                        const char *from,
                        const char *sig_method,
                        const char *ref_uri,
                        const char *transforms,
                        const char *digest,
                        const char *keyinfo,
                        const char *key_args)
{
    char *env = fx_envelope(from, cw_time_wall_s(), NULL);
    cw_buf_t tmpl;
    char *with_sig;
    char *out;
    char in_path[512];
    char out_path[512];
    size_t len;

    cw_buf_init(&tmpl, 1u << 20);
    if (env == NULL) {
        return NULL;
    }
    if (cw_buf_appendf(&tmpl,
                       "<ds:Signature xmlns:ds=\"" DS_NS "\"><ds:SignedInfo>"
                       "<ds:CanonicalizationMethod Algorithm=\"" EXC_C14N "\"/>"
                       "<ds:SignatureMethod Algorithm=\"%s\"/>"
                       "<ds:Reference URI=\"%s\"><ds:Transforms>%s</ds:Transforms>"
                       "<ds:DigestMethod Algorithm=\"%s\"/><ds:DigestValue/>"
                       "</ds:Reference></ds:SignedInfo><ds:SignatureValue/>%s"
                       "</ds:Signature></Envelope>",
                       sig_method, ref_uri, transforms, digest, keyinfo)
        < 0) {
        cw_buf_fini(&tmpl);
        cw_free(env);
        return NULL;
    }
    with_sig = fx_replace(env, "</Envelope>", tmpl.data);
    if (with_sig == NULL || fx_write(fx, "tmpl.xml", with_sig, strlen(with_sig)) < 0) {
        cw_free(with_sig);
        cw_buf_fini(&tmpl);
        cw_free(env);
        return NULL;
    }
    cw_free(with_sig);
    cw_buf_fini(&tmpl);
    cw_free(env);
    (void)remove(fx_path(fx, "signed.xml", out_path, sizeof(out_path)));
    if (fx_run("cd '%s' && xmlsec1 --sign %s --id-attr:Id urn:clearway:consignment:1:Consignment "
               "--output '%s' '%s' 2>/dev/null",
               fx->dir, key_args, out_path, fx_path(fx, "tmpl.xml", in_path, sizeof(in_path)))
        != 0) {
        return NULL;
    }
    out = fx_read(fx, "signed.xml", &len);
    return out;
}
