/*
 * Shared helpers of the sec unit tests: a throwaway PKI made by
 * certs/make-dev-pki in a temp dir, envelope text, signing as a party and
 * running the xmlsec1 command for interop and hand-made signatures.
 */
#ifndef CW_TEST_SEC_FIXTURE_H
#define CW_TEST_SEC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sec.h"

#define DS_NS     "http://www.w3.org/2000/09/xmldsig#"
#define EXC_C14N  "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ENVELOPED DS_NS "enveloped-signature"
#define RSA256    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ECDSA256  "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define RSA1      DS_NS "rsa-sha1"
#define HMAC256   "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
#define SHA256    "http://www.w3.org/2001/04/xmlenc#sha256"
#define SHA1      DS_NS "sha1"
#define STD_TRANSFORMS                            \
    "<ds:Transform Algorithm=\"" ENVELOPED "\"/>" \
    "<ds:Transform Algorithm=\"" EXC_C14N "\"/>"
#define X509_KEYINFO "<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>"

typedef struct fx {
    char dir[256]; /* temp dir holding the PKI and scratch files */
    cw_conf_limits_t limits;
} fx_t;

/* Creates dir, runs make-dev-pki for names (space separated) and, if
 * expired_names is not NULL, make-dev-pki --expired for those. */
int fx_init(fx_t *fx, const char *names, const char *expired_names);
/* Removes the temp dir. */
void fx_fini(fx_t *fx);
/* Writes dir/name into out. */
const char *fx_path(const fx_t *fx, const char *name, char *out, size_t size);
/* Runs a shell command (printf-style); returns its exit status. */
int fx_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes data to dir/name. */
int fx_write(const fx_t *fx, const char *name, const char *data, size_t len);
/* Reads dir/name into a cw_malloc'd NUL-terminated buffer. */
char *fx_read(const fx_t *fx, const char *name, size_t *len_out);

/* An unsigned envelope (cw_malloc'd) from from to "hub" at time ts_s, with
 * a MessageId of its own ("m-<n>"). */
char *fx_envelope(const char *from, int64_t ts_s, const char *from_markup);
/* Parses and signs xml with key/cert base name (e.g. "alice" or
 * "bob-rsa") as party id from; returns the serialised result. */
char *fx_sign(const fx_t *fx, const char *base, const char *from, const char *xml);
/* The same with a signing profile (CW_SEC_SIGN_CEB: inclusive C14N, SHA-1). */
char *fx_sign_profile(const fx_t *fx,
                      const char *base,
                      const char *from,
                      const char *xml,
                      cw_sec_sign_profile_e profile);
/* Replaces the first occurrence of what in s (returns a new cw_malloc'd string). */
char *fx_replace(const char *s, const char *what, const char *with);
/* Returns a new string of s with the text between the first a and the
 * following b (inclusive) cut out, written into *cut_out (cw_malloc'd). */
char *fx_cut(const char *s, const char *a, const char *b, char **cut_out);

/* A fresh envelope from from, signed by us with key/cert base (cw_malloc'd). */
char *fx_signed_envelope(const fx_t *fx, const char *base, const char *from);
/*
 * A fresh envelope from from with a signature template of the given
 * algorithms, signed by the xmlsec1 command with key_args (run in fx->dir);
 * cw_malloc'd, or NULL when xmlsec1 refused.
 */
char *fx_xmlsec1_signed(const fx_t *fx,
                        const char *from,
                        const char *sig_method,
                        const char *ref_uri,
                        const char *transforms,
                        const char *digest,
                        const char *keyinfo,
                        const char *key_args);

#endif
