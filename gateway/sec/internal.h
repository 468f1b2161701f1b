/*
 * sec internals shared by the module's files only (STYLE.md rule 1).
 */
#ifndef CW_SEC_INTERNAL_H
#define CW_SEC_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/c14n.h>
#include <xmlsec/keys.h>
#include <xmlsec/xmldsig.h>

#include "sec.h"

#define CW_SEC_MOD   "sec"
#define CW_SEC_DS_NS "http://www.w3.org/2000/09/xmldsig#"

/* ==== Per-thread state (sec.c) ==== */

/*
 * Signature state owned by one thread. The xmlSecDSigCtx storage is reused
 * for every message the thread handles (Initialize/Finalize only reset it;
 * no keys manager is ever built), and xmlsec's global error callback
 * records into the calling thread's slot, so concurrent requests never see
 * each other's errors.
 */
/*
 * An EVP_DigestSignInit or EVP_DigestVerifyInit done once for a key and a
 * digest, copied for each signature: the init fetches the digest and
 * signature algorithms from the providers and exports the key to them
 * (1.3 % of the daemon for signing, 0.6 % of its instructions for
 * verifying, in the ingest benchmark); a copy does not. The context holds
 * a reference to the key, so key is never a freed key's address.
 */
typedef struct cw_sec_ready {
    EVP_MD_CTX *ctx; /* NULL: empty */
    const EVP_PKEY *key;
    const EVP_MD *md;
} cw_sec_ready_t;

/* Partners' keys each thread keeps ready to verify with: a node hears
 * from a few senders at a time. */
#define CW_SEC_VERIFY_READY 4

typedef struct cw_sec_thread {
    xmlSecDSigCtx dsig;                         /* reused storage; initialised per operation */
    char xmlsec_err[200];                       /* first xmlsec error since the last reset */
    cw_sec_ready_t sign;                        /* the node's key: one */
    cw_sec_ready_t verify[CW_SEC_VERIFY_READY]; /* partners' keys, most recently used first */
    unsigned long verify_inits;                 /* contexts initialised, not copied (tests) */
    struct cw_sec_thread *next;                 /* registry of every thread's state, for fini */
} cw_sec_thread_t;

/* Returns the calling thread's state, creating it on first use; NULL on OOM. */
cw_sec_thread_t *cw_sec__thread_get(void);
/* Forgets the recorded xmlsec error and any OpenSSL error of this thread. */
void cw_sec__thread_reset_errors(cw_sec_thread_t *t);
/* SHA-1, fetched once at cw_sec_lib_init (SHA-256: cw_sec_sha256_md). */
const EVP_MD *cw_sec__sha1(void);
/* EVP_DigestSignInit(md, NULL, alg, NULL, pkey), by copying a context the
 * calling thread initialised once for that key and digest. 1 on success. */
int cw_sec__sign_init(EVP_MD_CTX *md, const EVP_MD *alg, EVP_PKEY *pkey);
/* The same for EVP_DigestVerifyInit, keeping the CW_SEC_VERIFY_READY keys
 * used last; a new one replaces the one unused longest. */
int cw_sec__verify_init(EVP_MD_CTX *md, const EVP_MD *alg, EVP_PKEY *pkey);
/* Test hooks, calling thread only: how many verification contexts it has
 * initialised (rather than copied) since it started, and forgetting the
 * ones it keeps, so that a test starts from none. */
unsigned long cw_sec__verify_inits(void);
void cw_sec__verify_forget(void);

/* ==== Keys (keys.c) ==== */

typedef struct cw_sec_cert {
    X509 *x509;         /* owned; read-only after load (validity checks) */
    unsigned char *der; /* owned DER encoding, for the byte comparison with KeyInfo */
    size_t der_len;
    char *b64;           /* owned: der in base64 on one line, as KeyInfo mostly carries it */
    xmlSecKeyPtr key;    /* owned public key only (no X509 data), duplicated per use */
    int is_rsa;          /* 1: RSA, 0: EC */
    int64_t not_after_s; /* notAfter, seconds since the epoch (for monitoring) */
    char path[512];      /* for messages */
} cw_sec_cert_t;

typedef struct cw_sec_partner {
    char party_id[128];
    cw_sec_cert_t *certs; /* owned array */
    size_t cert_count;
    unsigned flags; /* CW_SEC_PARTNER_* */
} cw_sec_partner_t;

typedef struct cw_sec_watched {
    char party[128];
    char role[32];
    char path[512];
    int64_t not_after_s; /* 0: unreadable */
} cw_sec_watched_t;

struct cw_sec_keys {
    atomic_int refcount;
    cw_sec_watched_t *watched; /* owned array */
    size_t watched_count;
    char node_id[128];
    EVP_PKEY *node_pkey; /* owned private key, NULL when the snapshot cannot sign */
    int node_key_is_rsa;
    char *node_cert_b64;        /* owned base64 DER of the node certificate */
    char node_cert_path[512];   /* its file, for monitoring ("" without a node key) */
    int64_t node_not_after_s;   /* its notAfter, seconds since the epoch */
    cw_sec_partner_t *partners; /* owned array */
    size_t partner_count;
};

const cw_sec_partner_t *cw_sec__keys_partner(const cw_sec_keys_t *keys, const char *party_id);

/*
 * Test hook: with on, cw_sec__dsig_verify sends every signature through
 * xmlsec, as it does for anything but SHA-256 (xmldsig.c); tests and
 * fuzz_xmldsig_verify compare both ways. Any thread; 0 at start.
 */
void cw_sec__verify_xmlsec_only(int on);

/* Test hook: with on, cw_sec_receipt_build builds every receipt as a tree
 * (the reference its written form is held to). */
void cw_sec__receipt_tree_only(int on);

/* ==== XML helpers (xml.c) ==== */

/* 1 when node is an element named name in namespace ns. */
int cw_sec__is_elem(const xmlNode *node, const char *ns, const char *name);
/* The first / next element sibling, skipping text, comments and PIs. */
xmlNode *cw_sec__first_elem(const xmlNode *parent);
xmlNode *cw_sec__next_elem(const xmlNode *node);
/*
 * Copies the full text of a leaf element (every text and CDATA child
 * concatenated, so a comment cannot cut a value short) into out. Fails with
 * CW_EPROTO when the element has element children or the text does not fit.
 */
CW_MUST_CHECK int cw_sec__elem_text(char *out, size_t size, const xmlNode *elem);
/* Where canonical bytes go: which OpenSSL update md was initialised for. */
typedef enum cw_sec_sink_e {
    CW_SEC_SINK_DIGEST = 0, /* EVP_DigestUpdate */
    CW_SEC_SINK_SIGN = 1,   /* EVP_DigestSignUpdate */
    CW_SEC_SINK_VERIFY = 2, /* EVP_DigestVerifyUpdate */
} cw_sec_sink_e;

/*
 * Canonicalises, without comments, in mode (XML_C14N_EXCLUSIVE_1_0 or
 * XML_C14N_1_0) the subtree of top (the whole document when NULL; an
 * element's ancestors are not output) without the subtree of skip (NULL:
 * nothing left out), and feeds the bytes to md as sink says (the caller
 * initialised md for it). Exclusive C14N goes through cw_sec__exc_c14n
 * (one buffer of the canonical form, freed before returning), anything
 * else or anything it leaves through libxml2's xmlC14NExecute, streamed.
 */
CW_MUST_CHECK int cw_sec__c14n_update(EVP_MD_CTX *md,
                                      cw_sec_sink_e sink,
                                      xmlDoc *doc,
                                      const xmlNode *top,
                                      const xmlNode *skip,
                                      int mode,
                                      cw_error_t *err);
/* The same node set through libxml2's xmlC14NExecute into buf (not closed);
 * its result. The fallback of cw_sec__c14n_update, and the reference the
 * tests compare cw_sec__exc_c14n with. */
int cw_sec__c14n_libxml2(
    xmlOutputBuffer *buf, xmlDoc *doc, const xmlNode *top, const xmlNode *skip, int mode);
/*
 * Exclusive XML C14N 1.0 without comments of top (a document, or an element
 * whose ancestors are not output) without skip's subtree, appended to out:
 * the bytes libxml2's xmlC14NExecute gives for the same node set (c14n.c).
 * CW_EINVAL for a tree it leaves to libxml2 (out then holds nothing usable),
 * or out's error.
 */
CW_MUST_CHECK int cw_sec__exc_c14n(cw_buf_t *out, const xmlNode *top, const xmlNode *skip);
/* The same, and *skip_at is where skip's subtree would be in out (its
 * offset, SIZE_MAX when the walk did not reach it). */
CW_MUST_CHECK int
cw_sec__exc_c14n_at(cw_buf_t *out, const xmlNode *top, const xmlNode *skip, size_t *skip_at);
/*
 * The exclusive C14N of elem as it appears inside its whole document's
 * (the namespaces its output ancestors render are not rendered again),
 * appended to out. Spliced in at the offset cw_sec__exc_c14n_at gave for
 * it as skip, it makes the whole document's canonical form without a
 * second walk. CW_EINVAL as cw_sec__exc_c14n, and for the root element.
 */
CW_MUST_CHECK int cw_sec__exc_c14n_in_doc(cw_buf_t *out, const xmlNode *elem);
/*
 * cw_sec__c14n_update of doc without skip in exclusive C14N, keeping the
 * canonical bytes in *kept (initialised here; the caller frees it with
 * cw_buf_fini whatever the result) and skip's offset in them in *skip_at
 * (SIZE_MAX when libxml2 did the work and nothing is kept).
 */
CW_MUST_CHECK int cw_sec__c14n_update_kept(EVP_MD_CTX *md,
                                           xmlDoc *doc,
                                           const xmlNode *skip,
                                           cw_buf_t *kept,
                                           size_t *skip_at,
                                           cw_error_t *err);
/*
 * cw_sec_doc_sha256(doc) from what cw_sec__c14n_update_kept kept, once
 * skip's subtree has changed: kept with skip's canonical form as it now is
 * spliced in. libxml2's walk of the whole document when nothing was kept
 * or skip is not c14n.c's.
 */
CW_MUST_CHECK int cw_sec__c14n_spliced_sha256(unsigned char out[32],
                                              xmlDoc *doc,
                                              const cw_buf_t *kept,
                                              size_t skip_at,
                                              const xmlNode *skip,
                                              cw_error_t *err);
/*
 * The same spliced form itself: the whole document's exclusive canonical
 * form (libxml2's bytes) in out (reset first; its max_len bounds it), from
 * what cw_sec__c14n_update_kept kept and skip's subtree as it now is;
 * libxml2's walk of the whole document where c14n.c did not do the parts.
 * CW_ENOMEM, CW_E2BIG past out's maximum, CW_ECRYPTO when libxml2 fails.
 */
CW_MUST_CHECK int cw_sec__c14n_spliced(cw_buf_t *out,
                                       xmlDoc *doc,
                                       const cw_buf_t *kept,
                                       size_t skip_at,
                                       const xmlNode *skip,
                                       cw_error_t *err);
/* Parses an RFC 3339 / xs:dateTime UTC timestamp into epoch seconds. */
CW_MUST_CHECK int cw_sec__time_parse(const char *s, int64_t *out);

/* ==== Signatures (xmldsig.c) ==== */

/*
 * Verifies the enveloped signature of doc (last child of the root) with the
 * registered certificates of partner. Sets *problem_out and returns a
 * negative code on failure; *cert_index_out is the certificate that worked.
 * doc_sha_out, when not NULL, gets cw_sec_doc_sha256(doc) if the
 * verification could splice it from the canonical form it made anyway
 * (SHA-256 signatures, checked without xmlsec); *doc_sha_set says whether
 * it did.
 */
CW_MUST_CHECK int cw_sec__dsig_verify(const cw_sec_partner_t *partner,
                                      xmlDoc *doc,
                                      int64_t now_s,
                                      size_t *cert_index_out,
                                      unsigned char *doc_sha_out,
                                      int *doc_sha_set,
                                      cw_sec_problem_e *problem_out,
                                      cw_error_t *err);

#endif /* CW_SEC_INTERNAL_H */
