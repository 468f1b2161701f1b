#include "fuzz_common.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cw_fuzz_sec_init(const char *target, cw_conf_limits_t *limits)
{
    cw_error_t err;

    cw_error_clear(&err);
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "%s: cw_sec_lib_init: %s\n", target, err.msg);
        exit(1);
    }
    cw_config_limits_default(limits);
}

void cw_fuzz_tempdir(const char *target, char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");

    if ((size_t)snprintf(dir, size, "%s/cw-fuzz-keys.XXXXXX",
                         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp")
            >= size
        || mkdtemp(dir) == NULL) {
        fprintf(stderr, "%s: start-up failed: mkdtemp\n", target);
        exit(1);
    }
}

void cw_fuzz_pem_write(const char *target, const char *path, EVP_PKEY *key, X509 *cert)
{
    BIO *bio = BIO_new_file(path, "w");
    int ok = bio != NULL;

    if (ok && key != NULL) {
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1;
    }
    if (ok && cert != NULL) {
        ok = PEM_write_bio_X509(bio, cert) == 1;
    }
    BIO_free(bio);
    if (!ok) {
        fprintf(stderr, "%s: start-up failed: %s\n", target, path);
        exit(1);
    }
}

X509 *cw_fuzz_cert_make(const char *target,
                        EVP_PKEY *key,
                        const char *cn,
                        long serial,
                        EVP_PKEY *issuer_key,
                        const char *issuer_cn,
                        int64_t from_s,
                        int64_t until_s)
{
    X509 *x = X509_new();
    X509_NAME *issuer = X509_NAME_new();
    X509_NAME *name = x != NULL ? X509_get_subject_name(x) : NULL;
    int ok;

    if (issuer_key == NULL) {
        issuer_key = key;
        issuer_cn = cn;
    }
    ok = name != NULL && issuer != NULL && X509_set_version(x, 2) == 1
         && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1
         && ASN1_TIME_set(X509_getm_notBefore(x), (time_t)from_s) != NULL
         && ASN1_TIME_set(X509_getm_notAfter(x), (time_t)until_s) != NULL
         && X509_set_pubkey(x, key) == 1
         && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                       0)
                == 1
         && X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn,
                                       -1, -1, 0)
                == 1
         && X509_set_issuer_name(x, issuer) == 1 && X509_sign(x, issuer_key, EVP_sha256()) > 0;
    X509_NAME_free(issuer);
    if (!ok) {
        fprintf(stderr, "%s: start-up failed: certificate creation\n", target);
        exit(1);
    }
    return x;
}
