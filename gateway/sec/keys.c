/*
 * The trust snapshot: this node's signing key and every partner's
 * registered certificates, loaded and checked once (STYLE.md rules 28, 48)
 * and then shared read-only by every worker thread. Verification never
 * consults a keys manager or decodes KeyInfo to find a key: it duplicates
 * the cached xmlSecKey of the From party (the performance rule).
 */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <xmlsec/openssl/evp.h>

#include "internal.h"
#include "sec.h"

/*
 * Accepts RSA >= 2048 bits and EC on P-256 or P-384 only (the algorithms
 * the verification policy allows). Sets *is_rsa.
 */
static int key_check(EVP_PKEY *pkey, const char *path, int *is_rsa, cw_error_t *err)
{
    char group[64];
    size_t group_len = 0;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *is_rsa = 1;
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            return cw_error_set(err, CW_ECONFIG, CW_SEC_MOD,
                                "%s: RSA key of %d bits, at least 2048 required", path,
                                EVP_PKEY_get_bits(pkey));
        }
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        *is_rsa = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &group_len)
            != 1) {
            return cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: EC key without a curve", path);
        }
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0
            && strcmp(group, "P-256") != 0 && strcmp(group, "P-384") != 0) {
            return cw_error_set(err, CW_ECONFIG, CW_SEC_MOD,
                                "%s: EC curve %s not allowed (P-256 or P-384)", path, group);
        }
        return 0;
    }
    return cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: key type not allowed (RSA or EC)", path);
}

/* Wraps pkey (ownership taken, even on failure) into a new xmlSecKey. */
static int key_wrap(xmlSecKeyPtr *out, EVP_PKEY *pkey, const char *path, cw_error_t *err)
{
    xmlSecKeyDataPtr data = NULL;
    xmlSecKeyPtr key = NULL;
    int rc = 0;

    *out = NULL;
    data = xmlSecOpenSSLEvpKeyAdopt(pkey);
    if (data == NULL) {
        EVP_PKEY_free(pkey);
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "%s: xmlSecOpenSSLEvpKeyAdopt failed", path);
        goto out;
    }
    key = xmlSecKeyCreate();
    if (key == NULL || xmlSecKeySetValue(key, data) < 0) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "%s: xmlSecKeyCreate failed", path);
        goto out;
    }
    data = NULL;
    *out = key;
    key = NULL;
out:
    if (data != NULL) {
        xmlSecKeyDataDestroy(data);
    }
    if (key != NULL) {
        xmlSecKeyDestroy(key);
    }
    return rc;
}

static int cert_read(X509 **out, const char *path, cw_error_t *err)
{
    BIO *bio = NULL;
    int rc = 0;

    *out = NULL;
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        rc = cw_error_set(err, CW_EIO, CW_SEC_MOD, "%s: cannot open certificate", path);
        goto out;
    }
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (*out == NULL) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: not a PEM certificate", path);
        goto out;
    }
out:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* A certificate's DER in base64 on one line (cw_malloc'd, NULL on OOM):
 * what the node writes into its KeyInfo, and what a partner's KeyInfo
 * text is first compared with (keyinfo_match in xmldsig.c). */
static char *der_b64(const unsigned char *der, size_t len)
{
    char *b64 = cw_malloc(4 * ((len + 2) / 3) + 1);

    if (b64 != NULL) {
        (void)EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
    }
    return b64;
}

/* A certificate's notAfter in seconds since the epoch; 0 if unreadable. */
static int64_t not_after_s(const X509 *x)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
        return 0;
    }
    return cw_time_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400
           + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

static int cert_load(cw_sec_cert_t *c, const char *path, cw_error_t *err)
{
    EVP_PKEY *pkey = NULL;
    unsigned char *der = NULL;
    int der_len;
    int rc = 0;

    (void)cw_strlcpy(c->path, path, sizeof(c->path));
    CW_TRY(cert_read(&c->x509, path, err));
    c->not_after_s = not_after_s(c->x509);
    der_len = i2d_X509(c->x509, &der);
    if (der_len <= 0) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: cannot encode certificate", path);
        goto out;
    }
    c->der = cw_malloc((size_t)der_len);
    CW_CHECK_ALLOC(c->der);
    memcpy(c->der, der, (size_t)der_len);
    c->der_len = (size_t)der_len;
    c->b64 = der_b64(c->der, c->der_len);
    CW_CHECK_ALLOC(c->b64);

    pkey = X509_get_pubkey(c->x509);
    if (pkey == NULL) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: unreadable public key", path);
        goto out;
    }
    CW_TRY(key_check(pkey, path, &c->is_rsa, err));
    rc = key_wrap(&c->key, pkey, path, err);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    OPENSSL_free(der);
    return rc;
}

static void cert_fini(cw_sec_cert_t *c)
{
    X509_free(c->x509);
    cw_free_null(c->der);
    cw_free_null(c->b64);
    if (c->key != NULL) {
        xmlSecKeyDestroy(c->key);
        c->key = NULL;
    }
}

/* Loads the node's private key and certificate (they must match). */
static int node_load(cw_sec_keys_t *k, const cw_sec_keys_conf_t *conf, cw_error_t *err)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    int der_len;
    int rc = 0;

    if (conf->cert_path == NULL) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "a node key needs its certificate");
        goto out;
    }
    bio = BIO_new_file(conf->key_path, "r");
    if (bio == NULL) {
        rc = cw_error_set(err, CW_EIO, CW_SEC_MOD, "%s: cannot open key", conf->key_path);
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: not a PEM private key", conf->key_path);
        goto out;
    }
    CW_TRY(key_check(pkey, conf->key_path, &k->node_key_is_rsa, err));
    CW_TRY(cert_read(&cert, conf->cert_path, err));
    if (EVP_PKEY_eq(pkey, X509_get0_pubkey(cert)) != 1) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: certificate does not match key %s",
                          conf->cert_path, conf->key_path);
        goto out;
    }
    der_len = i2d_X509(cert, &der);
    if (der_len <= 0) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "%s: cannot encode", conf->cert_path);
        goto out;
    }
    /* Written into each signature's KeyInfo/X509Data by cw_sec_doc_sign. */
    k->node_cert_b64 = der_b64(der, (size_t)der_len);
    CW_CHECK_ALLOC(k->node_cert_b64);
    (void)cw_strlcpy(k->node_cert_path, conf->cert_path, sizeof(k->node_cert_path));
    k->node_not_after_s = not_after_s(cert);
    /* Signing streams the canonical form into EVP_DigestSign with this key
     * (xmldsig.c); it is read-only after load, so threads share it. */
    k->node_pkey = pkey;
    pkey = NULL;
out:
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    X509_free(cert);
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

static int partner_load(cw_sec_partner_t *p, const cw_sec_partner_conf_t *pc, cw_error_t *err)
{
    size_t i;
    int rc = 0;

    if (pc->party_id == NULL || pc->party_id[0] == '\0'
        || strlen(pc->party_id) >= sizeof(p->party_id)) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "partner without a valid party id");
        goto out;
    }
    (void)cw_strlcpy(p->party_id, pc->party_id, sizeof(p->party_id));
    if (pc->cert_count == 0) {
        rc =
            cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "partner %s has no certificate", p->party_id);
        goto out;
    }
    p->flags = pc->flags;
    p->certs = cw_calloc(pc->cert_count, sizeof(*p->certs));
    CW_CHECK_ALLOC(p->certs);
    for (i = 0; i < pc->cert_count; i++) {
        p->cert_count = i + 1;
        CW_TRY(cert_load(&p->certs[i], pc->cert_paths[i], err));
    }
out:
    return rc;
}

static void keys_free(cw_sec_keys_t *k)
{
    size_t i;
    size_t j;

    if (k == NULL) {
        return;
    }
    for (i = 0; i < k->partner_count; i++) {
        for (j = 0; j < k->partners[i].cert_count; j++) {
            cert_fini(&k->partners[i].certs[j]);
        }
        cw_free(k->partners[i].certs);
    }
    cw_free(k->partners);
    cw_free(k->watched);
    EVP_PKEY_free(k->node_pkey);
    cw_free(k->node_cert_b64);
    cw_free(k);
}

static int watched_load(cw_sec_keys_t *k, const cw_sec_keys_conf_t *conf);

int cw_sec_keys_new(cw_sec_keys_t **out, const cw_sec_keys_conf_t *conf, cw_error_t *err)
{
    cw_sec_keys_t *k = NULL;
    size_t i;
    size_t j;
    int rc = 0;

    *out = NULL;
    k = cw_calloc(1, sizeof(*k));
    CW_CHECK_ALLOC(k);
    atomic_init(&k->refcount, 1);
    if (conf->node_id == NULL || conf->node_id[0] == '\0'
        || strlen(conf->node_id) >= sizeof(k->node_id)) {
        rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "missing or too long node id");
        goto out;
    }
    (void)cw_strlcpy(k->node_id, conf->node_id, sizeof(k->node_id));
    if (conf->key_path != NULL) {
        CW_TRY(node_load(k, conf, err));
    }
    if (watched_load(k, conf) < 0) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
        goto out;
    }
    if (conf->partner_count > 0) {
        k->partners = cw_calloc(conf->partner_count, sizeof(*k->partners));
        CW_CHECK_ALLOC(k->partners);
    }
    for (i = 0; i < conf->partner_count; i++) {
        for (j = 0; j < i; j++) {
            if (conf->partners[i].party_id != NULL
                && strcmp(conf->partners[i].party_id, k->partners[j].party_id) == 0) {
                rc = cw_error_set(err, CW_ECONFIG, CW_SEC_MOD, "partner %s registered twice",
                                  conf->partners[i].party_id);
                goto out;
            }
        }
        k->partner_count = i + 1;
        CW_TRY(partner_load(&k->partners[i], &conf->partners[i], err));
    }
    *out = k;
    k = NULL;
out:
    keys_free(k);
    return rc;
}

cw_sec_keys_t *cw_sec_keys_ref(cw_sec_keys_t *keys)
{
    atomic_fetch_add(&keys->refcount, 1);
    return keys;
}

void cw_sec_keys_unref(cw_sec_keys_t *keys)
{
    if (keys != NULL && atomic_fetch_sub(&keys->refcount, 1) == 1) {
        keys_free(keys);
    }
}

const char *cw_sec_keys_node_id(const cw_sec_keys_t *keys)
{
    return keys->node_id;
}

int cw_sec_keys_certs_each(const cw_sec_keys_t *keys, cw_sec_cert_cb cb, void *arg)
{
    cw_sec_cert_info_t info;
    size_t i;
    size_t j;
    int rc;

    if (keys->node_pkey != NULL) {
        info.party = keys->node_id;
        info.role = "node";
        info.path = keys->node_cert_path;
        info.not_after_s = keys->node_not_after_s;
        if ((rc = cb(&info, arg)) != 0) {
            return rc;
        }
    }
    for (i = 0; i < keys->partner_count; i++) {
        const cw_sec_partner_t *p = &keys->partners[i];

        for (j = 0; j < p->cert_count; j++) {
            info.party = p->party_id;
            info.role = "partner";
            info.path = p->certs[j].path;
            info.not_after_s = p->certs[j].not_after_s;
            if ((rc = cb(&info, arg)) != 0) {
                return rc;
            }
        }
    }
    for (i = 0; i < keys->watched_count; i++) {
        info.party = keys->watched[i].party;
        info.role = keys->watched[i].role;
        info.path = keys->watched[i].path;
        info.not_after_s = keys->watched[i].not_after_s;
        if ((rc = cb(&info, arg)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Reads the watched certificates' notAfter (cw_sec_keys_conf_t.watched). */
static int watched_load(cw_sec_keys_t *k, const cw_sec_keys_conf_t *conf)
{
    cw_error_t err;
    X509 *x = NULL;
    size_t i;

    if (conf->watched_count == 0) {
        return 0;
    }
    k->watched = cw_calloc(conf->watched_count, sizeof(*k->watched));
    if (k->watched == NULL) {
        return CW_ENOMEM;
    }
    for (i = 0; i < conf->watched_count; i++) {
        cw_sec_watched_t *w = &k->watched[i];
        const cw_sec_watch_conf_t *wc = &conf->watched[i];

        (void)cw_strlcpy(w->party, wc->party, sizeof(w->party));
        (void)cw_strlcpy(w->role, wc->role, sizeof(w->role));
        (void)cw_strlcpy(w->path, wc->path, sizeof(w->path));
        memset(&err, 0, sizeof(err));
        if (cert_read(&x, wc->path, &err) < 0) {
            CW_LOG_WARN(CW_SEC_MOD, "%s (%s certificate): %s; its expiry is reported as 0",
                        wc->path, wc->role, err.msg);
            cw_error_clear(&err);
            continue;
        }
        w->not_after_s = not_after_s(x);
        X509_free(x);
        x = NULL;
    }
    k->watched_count = conf->watched_count;
    return 0;
}

const cw_sec_partner_t *cw_sec__keys_partner(const cw_sec_keys_t *keys, const char *party_id)
{
    size_t i;

    for (i = 0; i < keys->partner_count; i++) {
        if (strcmp(keys->partners[i].party_id, party_id) == 0) {
            return &keys->partners[i];
        }
    }
    return NULL;
}

int cw_sec_keys_has_partner(const cw_sec_keys_t *keys, const char *party_id)
{
    return cw_sec__keys_partner(keys, party_id) != NULL;
}
