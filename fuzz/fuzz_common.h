/*
 * What the fuzz targets share: the set-up of the sec library and the
 * default limits, failing loudly (a target that cannot start must not
 * look like one that found nothing).
 */
#ifndef CW_FUZZ_COMMON_H
#define CW_FUZZ_COMMON_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "sec.h"

/* cw_sec_lib_init and limits at their defaults; exits 1 with a line naming
 * target on failure. */
void cw_fuzz_sec_init(const char *target, cw_conf_limits_t *limits);

/* A fresh directory only this process can read, under $TMPDIR (else /tmp),
 * for key files that exist only while the keys are loaded; exits 1 on
 * failure. */
void cw_fuzz_tempdir(const char *target, char *dir, size_t size);

/* Writes key and/or cert (either may be NULL) as PEM to path; exits 1 on
 * failure. */
void cw_fuzz_pem_write(const char *target, const char *path, EVP_PKEY *key, X509 *cert);

/*
 * A certificate for key with subject CN cn and serial, valid in
 * [from_s, until_s), issued by issuer_cn and signed with issuer_key, or
 * self-signed when issuer_key is NULL; exits 1 on failure.
 */
X509 *cw_fuzz_cert_make(const char *target,
                        EVP_PKEY *key,
                        const char *cn,
                        long serial,
                        EVP_PKEY *issuer_key,
                        const char *issuer_cn,
                        int64_t from_s,
                        int64_t until_s);

#endif
