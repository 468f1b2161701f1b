#include "fuzz_common.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>

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
