/*
 * The clearway command-line tool: shared pieces of its commands.
 * Exit codes are documented in docs/cli.md and never change meaning.
 */
#ifndef CW_CLI_INTERNAL_H
#define CW_CLI_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "sec.h"

typedef enum cw_cli_exit_e {
    CW_CLI_OK = 0,      /* done; for verify: valid */
    CW_CLI_INVALID = 1, /* verify: invalid; send: rejected or bad receipt */
    CW_CLI_USAGE = 2,   /* bad command line */
    CW_CLI_IO = 3,      /* unreadable input, key or certificate */
    CW_CLI_NET = 4,     /* send: transport failure or unexpected reply */
    CW_CLI_INTERNAL = 5,
} cw_cli_exit_e;

int cw_cli_sign(int argc, char **argv);
int cw_cli_verify(int argc, char **argv);
int cw_cli_send(int argc, char **argv);
int cw_cli_messages(int argc, char **argv);
int cw_cli_adapter(int argc, char **argv);
int cw_cli_assess(int argc, char **argv);
int cw_cli_keys(int argc, char **argv);
int cw_cli_partners(int argc, char **argv);

/* Reads path ("-" = stdin) into a cw_malloc'd buffer of at most max_bytes. */
int cw_cli__read_file(char **out, size_t *len_out, const char *path, size_t max_bytes);

/* The options of `sign` that make an envelope, shared with `send`. */
typedef struct cw_cli_envelope_opts {
    const char *key;
    const char *cert;
    const char *from;
    const char *to;
    const char *service;
    const char *action;
    const char *conversation_id; /* NULL: the message id */
    const char *message_id;      /* NULL: a new UUID */
    const char *ref_to_message_id;
    const char *original_sender;
} cw_cli_envelope_opts_t;

/*
 * Wraps the business document in payload (len bytes) into a new envelope
 * and signs it; *out is the serialised envelope (cw_free). Writes a one-line
 * reason to stderr and returns a cw_cli_exit_e on failure.
 */
int cw_cli__envelope_make(char **out,
                          size_t *len_out,
                          const cw_cli_envelope_opts_t *opts,
                          const char *payload,
                          size_t len);

/* ==== Certificates and keys (pki.c), for `keys` and `partners` ==== */

/* What cw_cli__pem_load may return, as a bit set. */
typedef enum cw_cli_pem_e {
    CW_CLI_PEM_CERT = 0x1,   /* the first X.509 certificate of the file */
    CW_CLI_PEM_KEY = 0x2,    /* an unencrypted private key (PKCS#8 or traditional) */
    CW_CLI_PEM_PUBKEY = 0x4, /* a public key (SubjectPublicKeyInfo) */
} cw_cli_pem_e;

/*
 * Reads path ("-" = stdin; at most 1 MiB) and returns the first object of
 * the kinds in want, tried in the order certificate, private key, public
 * key: *cert (X509_free) or *key (EVP_PKEY_free) is set, the other NULL.
 * Returns the cw_cli_pem_e kind found (> 0), or CW_EIO (unreadable, too
 * large), CW_EPARSE (nothing wanted found, an encrypted key) or CW_ENOMEM,
 * with a one-line reason naming path in err.
 * Any bytes are safe to give it. Thread: any.
 */
CW_MUST_CHECK int
cw_cli__pem_load(const char *path, unsigned want, X509 **cert, EVP_PKEY **key, cw_error_t *err);

/* Text of "AB:CD:..." for a SHA-256 digest, with its terminator. */
#define CW_CLI_FP_SIZE (32 * 3)
/* Text of "sha256//<base64>", libcurl's pinned-public-key form. */
#define CW_CLI_PIN_SIZE (8 + CW_BASE64_LEN(32) + 1)

/* What `keys show` and `partners` print about a public key. */
typedef struct cw_cli_key_info {
    char type[32];                       /* "EC P-256", "RSA", "ED25519" */
    int bits;                            /* key size in bits, 0 when unknown */
    int accepted;                        /* 1: clearwayd takes it (sec/keys.c) */
    char spki_sha256[CW_CLI_FP_SIZE];    /* SHA-256 of the DER SubjectPublicKeyInfo */
    char pinned_pubkey[CW_CLI_PIN_SIZE]; /* the same as a route's pinned-pubkey */
} cw_cli_key_info_t;

/* What `keys show` and `partners` print about a certificate. */
typedef struct cw_cli_cert_info {
    char subject[512];    /* RFC 2253, as a partner's tls-subject takes it */
    int subject_cut;      /* 1: longer than subject (cut, ending "..."): too long
                             for a tls-subject too */
    char issuer[512];     /* RFC 2253 */
    char serial[96];      /* upper-case hex, as openssl x509 -serial (cut, ending "...", past 47
                             bytes: RFC 5280 allows 20) */
    int64_t not_before_s; /* seconds since the epoch */
    int64_t not_after_s;  /* seconds since the epoch */
    char not_before[32];  /* RFC 3339 UTC */
    char not_after[32];   /* RFC 3339 UTC */
    char sha256[CW_CLI_FP_SIZE]; /* of the DER certificate: a tls-fingerprint */
    cw_cli_key_info_t key;       /* its public key */
} cw_cli_cert_info_t;

/* Describes pkey (borrowed). Returns 0 or CW_ENOMEM / CW_ECRYPTO. */
CW_MUST_CHECK int cw_cli__key_info(cw_cli_key_info_t *ki, EVP_PKEY *pkey);
/* Describes cert (borrowed). Returns 0, or CW_EPARSE with err set when a
 * field cannot be decoded (a hostile certificate), CW_ENOMEM. */
CW_MUST_CHECK int cw_cli__cert_info(cw_cli_cert_info_t *ci, X509 *cert, cw_error_t *err);
/* Whole days from now_s to t_s, rounded down (negative once past). */
int64_t cw_cli__days_left(int64_t t_s, int64_t now_s);
/* What clearwayd accepts as a key, for messages. Static. */
#define CW_CLI_KEYS_ACCEPTED "RSA of 2048 bits or more, or EC P-256 or P-384"

#endif /* CW_CLI_INTERNAL_H */
