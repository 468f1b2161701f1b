/*
 * Certificates and keys as `keys` and `partners` read them: bounded PEM
 * reading that any bytes are safe to give, and the facts an operator
 * compares (subject, validity, key, fingerprints) in the forms the
 * configuration takes them.
 */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define CLI_MOD "cli"

/* A PEM file with a certificate chain or a key is a few KiB; 1 MiB
 * leaves room for long chains and bounds what a hostile file costs. */
#define PEM_BYTES_MAX (1u << 20)

/* ==== Reading ==== */

/* Never prompts for a passphrase (the default would read the terminal):
 * an encrypted key is reported, not decrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    int *asked = arg;

    (void)buf;
    (void)size;
    (void)rwflag;
    *asked = 1;
    return -1;
}

static BIO *mem_bio(const char *data, size_t len)
{
    return BIO_new_mem_buf(data, (int)len);
}

int cw_cli__pem_load(const char *path, unsigned want, X509 **cert, EVP_PKEY **key, cw_error_t *err)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int asked = 0;
    int rc;

    *cert = NULL;
    *key = NULL;
    rc = cw_cli__read_file(&data, &len, path, PEM_BYTES_MAX);
    if (rc == CW_E2BIG) {
        rc = cw_error_set(err, CW_EIO, CLI_MOD, "%s: larger than %u bytes, not a PEM file", path,
                          PEM_BYTES_MAX);
        goto out;
    }
    if (rc == CW_EIO) {
        rc = cw_error_set(err, CW_EIO, CLI_MOD, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (rc < 0) {
        rc = cw_error_set(err, rc, CLI_MOD, "%s: cannot read: %s", path, cw_strerror(rc));
        goto out;
    }
    /* BIO_new_mem_buf takes an int length; PEM_BYTES_MAX keeps it small. */
    if ((want & CW_CLI_PEM_CERT) != 0) {
        bio = mem_bio(data, len);
        CW_CHECK_ALLOC(bio);
        *cert = PEM_read_bio_X509(bio, NULL, no_passphrase, &asked);
        BIO_free(bio);
        bio = NULL;
        if (*cert != NULL) {
            rc = CW_CLI_PEM_CERT;
            goto out;
        }
    }
    if ((want & CW_CLI_PEM_KEY) != 0) {
        bio = mem_bio(data, len);
        CW_CHECK_ALLOC(bio);
        *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
        BIO_free(bio);
        bio = NULL;
        if (*key != NULL) {
            rc = CW_CLI_PEM_KEY;
            goto out;
        }
        if (asked) {
            rc = cw_error_set(err, CW_EPARSE, CLI_MOD,
                              "%s: the private key is encrypted (clearwayd needs it unencrypted)",
                              path);
            goto out;
        }
    }
    if ((want & CW_CLI_PEM_PUBKEY) != 0) {
        bio = mem_bio(data, len);
        CW_CHECK_ALLOC(bio);
        *key = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, &asked);
        BIO_free(bio);
        bio = NULL;
        if (*key != NULL) {
            rc = CW_CLI_PEM_PUBKEY;
            goto out;
        }
    }
    rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "%s: no PEM %s found", path,
                      want == CW_CLI_PEM_CERT  ? "certificate"
                      : want == CW_CLI_PEM_KEY ? "private key"
                                               : "certificate or key");
out:
    if (rc == CW_ENOMEM) {
        (void)cw_error_set(err, CW_ENOMEM, CLI_MOD, "%s: out of memory", path);
    }
    BIO_free(bio);
    if (data != NULL) {
        /* The file may have held a private key. */
        cw_memzero_explicit(data, len);
        cw_free(data);
    }
    ERR_clear_error();
    return rc;
}

/* ==== Describing ==== */

static void hex_colons(char *out, size_t size, const unsigned char *md, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    out[0] = '\0';
    if (len == 0 || size < 3 * len) {
        return;
    }
    for (i = 0; i < len; i++) {
        out[3 * i] = hex[md[i] >> 4];
        out[3 * i + 1] = hex[md[i] & 0xf];
        out[3 * i + 2] = i + 1 < len ? ':' : '\0';
    }
}

/* The NIST name of an OpenSSL group name, or the name itself. */
static const char *curve_name(const char *group)
{
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        return "P-256";
    }
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
        return "P-384";
    }
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
        return "P-521";
    }
    return group;
}

int cw_cli__key_info(cw_cli_key_info_t *ki, EVP_PKEY *pkey)
{
    char group[64];
    size_t group_len = 0;
    unsigned char *der = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    const char *name;
    int der_len;
    int rc = 0;

    memset(ki, 0, sizeof(*ki));
    ki->bits = EVP_PKEY_get_bits(pkey);
    if (ki->bits < 0) {
        ki->bits = 0;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        (void)cw_strlcpy(ki->type, "RSA", sizeof(ki->type));
        /* The same rule as key_check in sec/keys.c. */
        ki->accepted = ki->bits >= 2048;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &group_len)
            != 1) {
            (void)cw_strlcpy(group, "(explicit curve)", sizeof(group));
        }
        name = curve_name(group);
        /* At most 28 bytes of the name: type is 32 with "EC " and the NUL. */
        (void)snprintf(ki->type, sizeof(ki->type), "EC %.28s", name);
        ki->accepted = strcmp(name, "P-256") == 0 || strcmp(name, "P-384") == 0;
    } else {
        name = EVP_PKEY_get0_type_name(pkey);
        (void)cw_strlcpy(ki->type, name != NULL ? name : "unknown", sizeof(ki->type));
    }
    der_len = i2d_PUBKEY(pkey, &der);
    if (der_len <= 0) {
        rc = CW_ECRYPTO;
        goto out;
    }
    if (EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL) != 1) {
        rc = CW_ECRYPTO;
        goto out;
    }
    hex_colons(ki->spki_sha256, sizeof(ki->spki_sha256), md, md_len);
    memcpy(ki->pinned_pubkey, "sha256//", 8);
    ki->pinned_pubkey[8 + cw_base64_encode(ki->pinned_pubkey + 8, md, md_len)] = '\0';
out:
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

/* Ends text (size bytes, full) with "..." to show it was cut. */
static void mark_cut(char *text, size_t size)
{
    if (size >= 4) {
        memcpy(text + size - 4, "...", 4);
    }
}

/* name in RFC 2253, the form clearwayd compares a tls-subject with
 * (net/tls.c); control and non-ASCII bytes come out escaped. Returns 0, 1
 * when the text did not fit and was cut (ending "..."), or < 0. */
static int name_text(char *out, size_t size, const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;
    int rc = 0;

    out[0] = '\0';
    if (b == NULL) {
        return CW_ENOMEM;
    }
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        rc = CW_EPARSE;
    } else {
        n = BIO_read(b, out, (int)size - 1);
        out[n > 0 ? n : 0] = '\0';
        if (BIO_pending(b) > 0) {
            mark_cut(out, size);
            rc = 1;
        }
    }
    BIO_free(b);
    return rc;
}

/* t as seconds since the epoch and as RFC 3339 UTC. */
static int time_get(const ASN1_TIME *t, int64_t *out_s, char *text, size_t size)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return CW_EPARSE;
    }
    *out_s = cw_time_days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400
             + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    cw_time_format_utc(text, size, *out_s);
    return 0;
}

static int serial_text(char *out, size_t size, const ASN1_INTEGER *serial)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = NULL;
    int rc = 0;

    out[0] = '\0';
    if (bn == NULL || (hex = BN_bn2hex(bn)) == NULL) {
        rc = CW_EPARSE;
        goto out;
    }
    if (cw_strlcpy(out, hex, size) >= size) {
        /* Past RFC 5280's 20 octets; clearwayd loads it all the same. */
        mark_cut(out, size);
    }
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int cw_cli__cert_info(cw_cli_cert_info_t *ci, X509 *cert, cw_error_t *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_PKEY *pkey;
    int rc = 0;

    memset(ci, 0, sizeof(*ci));
    ci->subject_cut = name_text(ci->subject, sizeof(ci->subject), X509_get_subject_name(cert));
    if (ci->subject_cut < 0
        || name_text(ci->issuer, sizeof(ci->issuer), X509_get_issuer_name(cert)) < 0) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "undecodable subject or issuer");
        goto out;
    }
    if (serial_text(ci->serial, sizeof(ci->serial), X509_get0_serialNumber(cert)) < 0) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "undecodable serial number");
        goto out;
    }
    if (time_get(X509_get0_notBefore(cert), &ci->not_before_s, ci->not_before,
                 sizeof(ci->not_before))
            < 0
        || time_get(X509_get0_notAfter(cert), &ci->not_after_s, ci->not_after,
                    sizeof(ci->not_after))
               < 0) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "undecodable validity dates");
        goto out;
    }
    if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "cannot hash the certificate");
        goto out;
    }
    hex_colons(ci->sha256, sizeof(ci->sha256), md, md_len);
    pkey = X509_get0_pubkey(cert);
    if (pkey == NULL) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "undecodable public key");
        goto out;
    }
    if (cw_cli__key_info(&ci->key, pkey) < 0) {
        rc = cw_error_set(err, CW_EPARSE, CLI_MOD, "cannot encode the public key");
        goto out;
    }
out:
    ERR_clear_error();
    return rc;
}

int64_t cw_cli__days_left(int64_t t_s, int64_t now_s)
{
    int64_t d = t_s - now_s;

    return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}
