/*
 * Library set-up, the problem table and the per-thread signature state.
 */
#include "sec.h"

#include <libxslt/security.h>
#include <openssl/err.h>
#include <string.h>

#include <libxml/parser.h>
#include <uv.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmlsec.h>

#include "internal.h"

/* ==== Problems ==== */

typedef struct problem_row {
    const char *slug;
    int status;
    const char *title;
} problem_row_t;

static const problem_row_t problem_rows[] = {
#define XX(name, slug, status, title) { slug, status, title },
    CW_SEC_PROBLEM_MAP(XX)
#undef XX
};

const char *cw_sec_problem_slug(cw_sec_problem_e problem)
{
    if ((size_t)problem >= CW_ARRAY_SIZE(problem_rows)) {
        return "internal-error";
    }
    return problem_rows[problem].slug;
}

int cw_sec_problem_status(cw_sec_problem_e problem)
{
    if ((size_t)problem >= CW_ARRAY_SIZE(problem_rows)) {
        return 500;
    }
    return problem_rows[problem].status;
}

const char *cw_sec_problem_title(cw_sec_problem_e problem)
{
    if ((size_t)problem >= CW_ARRAY_SIZE(problem_rows)) {
        return "internal error";
    }
    return problem_rows[problem].title;
}

int cw_sec_problem_from_slug(cw_sec_problem_e *out, const char *slug)
{
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(problem_rows); i++) {
        if (strcmp(problem_rows[i].slug, slug) == 0) {
            *out = (cw_sec_problem_e)i;
            return 0;
        }
    }
    return CW_ENOENT;
}

/* ==== Per-thread state ==== */

/*
 * Process-wide by nature: the thread-local key and the registry that lets
 * cw_sec_lib_fini free the state of libuv's pool threads, which never run
 * a destructor. Set up and torn down only by cw_sec_lib_init/fini.
 */
static uv_key_t thread_key;
static uv_mutex_t thread_lock;
static cw_sec_thread_t *thread_list;
static int lib_ready;
/* Handed to xmlsec, which does not free it; freed by cw_sec_lib_fini. */
static xsltSecurityPrefsPtr xslt_prefs;

/* Fetched by cw_sec_lib_init, freed by cw_sec_lib_fini (NULL: use the
 * implicit EVP_sha256()/EVP_sha1()). */
static EVP_MD *md_sha256;
static EVP_MD *md_sha1;

const EVP_MD *cw_sec_sha256_md(void)
{
    return md_sha256 != NULL ? md_sha256 : EVP_sha256();
}

const EVP_MD *cw_sec__sha1(void)
{
    return md_sha1 != NULL ? md_sha1 : EVP_sha1();
}

cw_sec_thread_t *cw_sec__thread_get(void)
{
    cw_sec_thread_t *t;

    if (!CW_ALWAYS(lib_ready)) {
        return NULL;
    }
    t = uv_key_get(&thread_key);
    if (t != NULL) {
        return t;
    }
    t = cw_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    uv_mutex_lock(&thread_lock);
    t->next = thread_list;
    thread_list = t;
    uv_mutex_unlock(&thread_lock);
    uv_key_set(&thread_key, t);
    return t;
}

/* Copies r's context into md, (re)initialising r first unless it is ready
 * for pkey and alg. 1 on success. */
static int
ready_copy(cw_sec_ready_t *r, EVP_MD_CTX *md, const EVP_MD *alg, EVP_PKEY *pkey, int sign)
{
    EVP_MD_CTX *ctx;

    if (r->ctx == NULL || r->key != pkey || r->md != alg) {
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL
            || (sign ? EVP_DigestSignInit(ctx, NULL, alg, NULL, pkey)
                     : EVP_DigestVerifyInit(ctx, NULL, alg, NULL, pkey))
                   != 1) {
            EVP_MD_CTX_free(ctx);
            return 0;
        }
        EVP_MD_CTX_free(r->ctx);
        r->ctx = ctx;
        r->key = pkey;
        r->md = alg;
    }
    return EVP_MD_CTX_copy_ex(md, r->ctx);
}

int cw_sec__sign_init(EVP_MD_CTX *md, const EVP_MD *alg, EVP_PKEY *pkey)
{
    cw_sec_thread_t *t = cw_sec__thread_get();

    return t != NULL ? ready_copy(&t->sign, md, alg, pkey, 1)
                     : EVP_DigestSignInit(md, NULL, alg, NULL, pkey);
}

int cw_sec__verify_init(EVP_MD_CTX *md, const EVP_MD *alg, EVP_PKEY *pkey)
{
    cw_sec_thread_t *t = cw_sec__thread_get();
    cw_sec_ready_t found;
    size_t i;

    if (t == NULL) {
        return EVP_DigestVerifyInit(md, NULL, alg, NULL, pkey);
    }
    /* Kept most recently used first: the one found, or else the last (the
     * one unused longest, or an empty slot), moves to the front. */
    for (i = 0; i < CW_SEC_VERIFY_READY - 1; i++) {
        if (t->verify[i].ctx != NULL && t->verify[i].key == pkey && t->verify[i].md == alg) {
            break;
        }
    }
    if (i > 0) {
        found = t->verify[i];
        memmove(&t->verify[1], &t->verify[0], i * sizeof(t->verify[0]));
        t->verify[0] = found;
    }
    if (t->verify[0].ctx == NULL || t->verify[0].key != pkey || t->verify[0].md != alg) {
        t->verify_inits++;
    }
    return ready_copy(&t->verify[0], md, alg, pkey, 0);
}

unsigned long cw_sec__verify_inits(void)
{
    cw_sec_thread_t *t = cw_sec__thread_get();

    return t != NULL ? t->verify_inits : 0;
}

void cw_sec__verify_forget(void)
{
    cw_sec_thread_t *t = cw_sec__thread_get();

    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < CW_SEC_VERIFY_READY; i++) {
        EVP_MD_CTX_free(t->verify[i].ctx);
        t->verify[i] = (cw_sec_ready_t){ 0 };
    }
}

void cw_sec__thread_reset_errors(cw_sec_thread_t *t)
{
    t->xmlsec_err[0] = '\0';
    ERR_clear_error();
}

/*
 * xmlsec has one global error callback; it runs on the thread that hit the
 * error, so recording into that thread's state keeps requests apart. Only
 * the first error is kept: it is the cause, the rest is the unwinding.
 */
static void on_xmlsec_error(const char *file,
                            int line,
                            const char *func,
                            const char *error_object,
                            const char *error_subject,
                            int reason,
                            const char *msg)
{
    cw_sec_thread_t *t = lib_ready ? uv_key_get(&thread_key) : NULL;
    const char *reason_msg = NULL;
    size_t i;

    (void)file;
    (void)line;
    (void)error_object;
    if (t == NULL || t->xmlsec_err[0] != '\0') {
        return;
    }
    for (i = 0; (i < XMLSEC_ERRORS_MAX_NUMBER) && (xmlSecErrorsGetMsg(i) != NULL); i++) {
        if (xmlSecErrorsGetCode(i) == reason) {
            reason_msg = xmlSecErrorsGetMsg(i);
            break;
        }
    }
    (void)snprintf(t->xmlsec_err, sizeof(t->xmlsec_err), "%s: %s%s%s%s",
                   func != NULL ? func : "xmlsec", reason_msg != NULL ? reason_msg : "error",
                   error_subject != NULL ? " (" : "", error_subject != NULL ? error_subject : "",
                   error_subject != NULL ? ")" : "");
    (void)msg;
}

/*
 * libxml2's structured error handler is per thread; the default prints to
 * stderr. Errors of our own parses are captured per parser context in
 * xml.c, so what reaches this one (C14N inside xmlsec) is dropped here and
 * reported through the xmlsec error instead.
 */
static void on_xml_error_quiet(void *arg, xmlErrorPtr error)
{
    (void)arg;
    (void)error;
}

/* ==== Library ==== */

int cw_sec_lib_init(cw_error_t *err)
{
    xsltSecurityPrefsPtr prefs = NULL;
    int rc = 0;

    xmlInitParser();
    xmlSetStructuredErrorFunc(NULL, on_xml_error_quiet);

    if (xmlSecInit() < 0) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "xmlSecInit failed");
        goto out;
    }
    if (xmlSecCheckVersion() != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "xmlsec library version mismatch");
        goto out;
    }
    if (xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "xmlsec OpenSSL backend init failed");
        goto out;
    }
    xmlSecErrorsSetCallback(on_xmlsec_error);

    /*
     * xmlsec is built with XSLT. We never enable the XSLT transform, but
     * forbid every side effect as well (STYLE.md rule 47), in case a later
     * policy does. xmlsec owns the prefs from here on.
     */
    prefs = xsltNewSecurityPrefs();
    if (prefs == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "xsltNewSecurityPrefs failed");
        goto out;
    }
    if (xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_FILE, xsltSecurityForbid) < 0
        || xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_FILE, xsltSecurityForbid) < 0
        || xsltSetSecurityPrefs(prefs, XSLT_SECPREF_CREATE_DIRECTORY, xsltSecurityForbid) < 0
        || xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_NETWORK, xsltSecurityForbid) < 0
        || xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_NETWORK, xsltSecurityForbid) < 0) {
        xsltFreeSecurityPrefs(prefs);
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "xsltSetSecurityPrefs failed");
        goto out;
    }
    xmlSecTransformXsltSetDefaultSecurityPrefs(prefs);
    xslt_prefs = prefs;

    if (uv_key_create(&thread_key) != 0) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "uv_key_create failed");
        goto out;
    }
    if (uv_mutex_init(&thread_lock) != 0) {
        uv_key_delete(&thread_key);
        rc = cw_error_set(err, CW_ESYS, CW_SEC_MOD, "uv_mutex_init failed");
        goto out;
    }
    thread_list = NULL;
    md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    lib_ready = 1;
out:
    return rc;
}

void cw_sec_lib_fini(void)
{
    cw_sec_thread_t *t;
    cw_sec_thread_t *next;

    if (lib_ready) {
        for (t = thread_list; t != NULL; t = next) {
            next = t->next;
            EVP_MD_CTX_free(t->sign.ctx);
            for (size_t i = 0; i < CW_SEC_VERIFY_READY; i++) {
                EVP_MD_CTX_free(t->verify[i].ctx);
            }
            cw_free(t);
        }
        thread_list = NULL;
        lib_ready = 0;
        uv_key_delete(&thread_key);
        uv_mutex_destroy(&thread_lock);
    }
    EVP_MD_free(md_sha256);
    EVP_MD_free(md_sha1);
    md_sha256 = NULL;
    md_sha1 = NULL;
    xmlSecCryptoShutdown();
    xmlSecCryptoAppShutdown();
    xmlSecShutdown();
    if (xslt_prefs != NULL) {
        xsltFreeSecurityPrefs(xslt_prefs);
        xslt_prefs = NULL;
    }
    xmlCleanupParser();
}
