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

/* An unsigned envelope (cw_malloc'd) from from to "hub" at time ts_s. */
char *fx_envelope(const char *from, int64_t ts_s, const char *from_markup);
/* Parses and signs xml with key/cert base name (e.g. "alice" or
 * "bob-rsa") as party id from; returns the serialised result. */
char *fx_sign(const fx_t *fx, const char *base, const char *from, const char *xml);
/* Replaces the first occurrence of what in s (returns a new cw_malloc'd string). */
char *fx_replace(const char *s, const char *what, const char *with);
/* Returns a new string of s with the text between the first a and the
 * following b (inclusive) cut out, written into *cut_out (cw_malloc'd). */
char *fx_cut(const char *s, const char *a, const char *b, char **cut_out);

#endif
