/*
 * sec: everything that touches untrusted XML or XML signatures.
 *
 *   xml.c      the only place untrusted XML is parsed (size, DOCTYPE, depth
 *              and node limits)
 *   xsd.c      envelope and receipt schemas, compiled once
 *   keys.c     the immutable, refcounted trust snapshot (node key, partner
 *              certificates resolved and checked at load)
 *   xmldsig.c  the verification policy of docs/security.md, and signing
 *   receipt.c  signed receipts: build, digest, verify
 *
 * This is the only public header of the module. Problems found in input are
 * reported twice: as a negative CW_E* return code (for control flow) and as a
 * stable cw_sec_problem_e (for the problem document or negative receipt).
 *
 * Threads: cw_sec_lib_init/fini run on the main thread while no other thread
 * uses libxml2 or xmlsec. Everything else may run on any worker thread; the
 * objects passed in (keys, schemas) are read-only after creation, and each
 * thread keeps its own signature state.
 */
#ifndef CW_SEC_H
#define CW_SEC_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "config.h"
#include "util.h"

/* ==== Library ==== */

/*
 * Initialises libxml2, xmlsec and its OpenSSL backend, forbids every XSLT
 * side effect (xmlsec is built with XSLT), and sets up the per-thread
 * signature state. Returns 0, or CW_ECRYPTO with a message in err.
 * Main thread only, once, before any worker starts.
 */
CW_MUST_CHECK int cw_sec_lib_init(cw_error_t *err);
/*
 * Frees every thread's signature state and shuts the libraries down in
 * reverse order. Main thread only, after every worker has stopped.
 */
void cw_sec_lib_fini(void);
/*
 * OpenSSL's SHA-256, fetched once by cw_sec_lib_init: EVP_sha256() passed to
 * an init or to EVP_Digest is fetched from the providers again on every
 * call in OpenSSL 3. Before init (and after fini), the implicit one. Any
 * thread.
 */
const EVP_MD *cw_sec_sha256_md(void);

/* ==== Problems ==== */

/*
 * Stable kinds of rejected input. The slug is the last part of the problem
 * type URI (urn:clearway:problem:<slug>) and appears in negative receipts;
 * never rename one. docs/security.md explains each.
 */
#define CW_SEC_PROBLEM_MAP(XX)                                                                  \
    XX(NONE, "none", 200, "no problem")                                                         \
    XX(MALFORMED_XML, "malformed-xml", 400, "the body is not well-formed XML")                  \
    XX(XML_TOO_LARGE, "xml-too-large", 413, "the XML document is too large")                    \
    XX(XML_TOO_DEEP, "xml-too-deep", 400, "the XML document nests too deeply")                  \
    XX(XML_TOO_MANY_NODES, "xml-too-many-nodes", 400, "the XML has too many nodes")             \
    XX(DOCTYPE_FORBIDDEN, "doctype-forbidden", 400, "a DOCTYPE is not allowed")                 \
    XX(HEADER_INVALID, "header-invalid", 422, "the envelope header is unreadable")              \
    XX(SCHEMA_INVALID, "schema-invalid", 422, "the document violates its schema")               \
    XX(UNKNOWN_SENDER, "unknown-sender", 403, "the From party is not registered")               \
    XX(SENDER_MISMATCH, "sender-mismatch", 403, "From is not the TLS client")                   \
    XX(SIGNATURE_MISSING, "signature-missing", 401, "the document is not signed")               \
    XX(SIGNATURE_POLICY, "signature-policy", 401, "the signature breaks the policy")            \
    XX(SIGNATURE_INVALID, "signature-invalid", 401, "the signature does not verify")            \
    XX(SIGNER_NOT_SENDER, "signer-not-sender", 403, "signed with another certificate")          \
    XX(CERTIFICATE_EXPIRED, "certificate-expired", 403,                                         \
       "the sender's certificate is not valid now")                                             \
    XX(STALE_MESSAGE, "stale-message", 400, "the timestamp is outside the window")              \
    XX(RECEIPT_MISMATCH, "receipt-mismatch", 422, "the receipt is for another message")         \
    XX(INTERNAL, "internal-error", 500, "internal error")                                       \
    XX(NO_ROUTE, "no-route", 422, "no route to the To party")                                   \
    XX(NOT_AUTHORIZED, "not-authorized", 403, "the sender may not send this")                   \
    XX(CONSIGNMENT_REFUSED, "consignment-refused", 422, "red lane: the consignment is stopped") \
    XX(DUPLICATE_MESSAGE_ID, "duplicate-message-id", 409,                                       \
       "this MessageId was used for other content")                                             \
    XX(NAMESPACE_URI_REFUSED, "namespace-uri-refused", 400,                                     \
       "a namespace URI holds a character that cannot be carried")

typedef enum cw_sec_problem_e {
#define XX(name, slug, status, title) CW_SEC_PROBLEM_##name,
    CW_SEC_PROBLEM_MAP(XX)
#undef XX
} cw_sec_problem_e;

/* The stable slug ("signature-invalid"); static, never NULL. */
const char *cw_sec_problem_slug(cw_sec_problem_e problem);
/* The HTTP status a request rejected with this problem gets. */
int cw_sec_problem_status(cw_sec_problem_e problem);
/* A short human title; static, never NULL. */
const char *cw_sec_problem_title(cw_sec_problem_e problem);
/* Looks a slug up; returns 0, or CW_ENOENT for an unknown slug. */
CW_MUST_CHECK int cw_sec_problem_from_slug(cw_sec_problem_e *out, const char *slug);

/* ==== Safe parsing (xml.c) ==== */

/*
 * Parses untrusted XML. Refuses len > limits->xml_bytes_max before parsing;
 * parses with XML_PARSE_NONET and no entity substitution, DTD loading or
 * XInclude; stops at the first DOCTYPE; enforces limits->xml_depth_max and
 * limits->xml_nodes_max while parsing and again in one iterative walk.
 * On success returns 0 and *out is a new document owned by the caller
 * (xmlFreeDoc). On failure returns CW_EPARSE or CW_E2BIG (or CW_ENOMEM),
 * *out is NULL, *problem_out says which rule failed and err has the detail
 * (libxml2's first error, with line). Thread: any. Errors are captured per
 * parser context, so concurrent parses never share state.
 */
CW_MUST_CHECK int cw_sec_xml_parse(xmlDoc **out,
                                   const char *data,
                                   size_t len,
                                   const cw_conf_limits_t *limits,
                                   cw_sec_problem_e *problem_out,
                                   cw_error_t *err);

/*
 * Serialises doc byte-exactly (UTF-8, no reformatting, so a signature stays
 * valid). *out is NUL-terminated, owned by the caller (cw_free).
 */
CW_MUST_CHECK int cw_sec_xml_serialize(char **out, size_t *len_out, xmlDoc *doc);

/*
 * SHA-256 of the exclusive canonical form (Exclusive XML C14N 1.0, without
 * comments) of the whole document: the digest a receipt carries.
 */
CW_MUST_CHECK int cw_sec_doc_sha256(unsigned char out[32], xmlDoc *doc, cw_error_t *err);

/* ==== Schemas (xsd.c) ==== */

typedef enum cw_sec_schema_e {
    CW_SEC_SCHEMA_ENVELOPE = 0, /* schemas/envelope.xsd */
    CW_SEC_SCHEMA_RECEIPT = 1,  /* schemas/receipt.xsd */
} cw_sec_schema_e;

typedef struct cw_sec_schemas cw_sec_schemas_t;

/*
 * Compiles the schemas embedded in the binary (never one named by a
 * message). *out is owned by the caller (cw_sec_schemas_free). Startup only.
 */
CW_MUST_CHECK int cw_sec_schemas_new(cw_sec_schemas_t **out, cw_error_t *err);
void cw_sec_schemas_free(cw_sec_schemas_t *schemas);
/*
 * Validates doc with a validation context of its own. Returns 0, or
 * CW_EPROTO with the first violation (and its line) in err. Thread: any.
 */
CW_MUST_CHECK int cw_sec_schemas_validate(const cw_sec_schemas_t *schemas,
                                          cw_sec_schema_e which,
                                          xmlDoc *doc,
                                          cw_error_t *err);

/* ==== Trust snapshot (keys.c) ==== */

/* Partner flags. */
#define CW_SEC_PARTNER_LEGACY_SHA1 (1u << 0) /* also accept RSA-SHA1 and SHA-1 digests */

/* One registered partner, as the configuration describes it. */
typedef struct cw_sec_partner_conf {
    const char *party_id;          /* the From value this partner signs with */
    const char *const *cert_paths; /* PEM certificates; several during a rollover */
    size_t cert_count;
    unsigned flags; /* CW_SEC_PARTNER_* */
} cw_sec_partner_conf_t;

/* A certificate the node does not sign or verify with but whose expiry is
 * watched with the others (a TLS listener's, a route's client
 * certificate): its party, role ("tls-server", "tls-client") and file. */
typedef struct cw_sec_watch_conf {
    const char *party;
    const char *role;
    const char *path;
} cw_sec_watch_conf_t;

/* Everything a trust snapshot is built from; borrowed during the call only. */
typedef struct cw_sec_keys_conf {
    const char *node_id;   /* this node's party id (From of what it signs) */
    const char *key_path;  /* PEM private key; NULL: the snapshot cannot sign */
    const char *cert_path; /* PEM certificate of key_path; required with it */
    const cw_sec_partner_conf_t *partners;
    size_t partner_count;
    const cw_sec_watch_conf_t *watched; /* read for their notAfter only: one that cannot be
                                           read is reported with notAfter 0 and a warning,
                                           never a failure */
    size_t watched_count;
} cw_sec_keys_conf_t;

typedef struct cw_sec_keys cw_sec_keys_t;

/*
 * Loads and checks every key and certificate once: RSA keys need at least
 * 2048 bits, EC keys must be on P-256 or P-384, the node certificate must
 * match the node key, party ids must be unique. Certificate validity is
 * checked at verification time, not here, so that a snapshot loaded before
 * a rollover starts working when the new certificate becomes valid.
 * *out has one reference owned by the caller (cw_sec_keys_unref). Returns
 * CW_ECONFIG (with "path: reason" in err), CW_EIO or CW_ENOMEM on failure.
 * Thread: any, blocking file I/O.
 */
CW_MUST_CHECK int
cw_sec_keys_new(cw_sec_keys_t **out, const cw_sec_keys_conf_t *conf, cw_error_t *err);
/* Takes a reference (atomic; any thread). Returns keys. */
cw_sec_keys_t *cw_sec_keys_ref(cw_sec_keys_t *keys);
/* Drops a reference (atomic; any thread); the last frees. NULL is allowed. */
void cw_sec_keys_unref(cw_sec_keys_t *keys);
/* This node's party id; borrowed, lives as long as keys. */
const char *cw_sec_keys_node_id(const cw_sec_keys_t *keys);
/* 1 when party_id is a registered partner, else 0. */
int cw_sec_keys_has_partner(const cw_sec_keys_t *keys, const char *party_id);

/* One certificate of a snapshot, for monitoring its expiry. */
typedef struct cw_sec_cert_info {
    const char *party;   /* the node's id, or the partner's */
    const char *role;    /* "node" (its signing certificate), "partner", or a watched
                            certificate's ("tls-server", "tls-client") */
    const char *path;    /* the file it was loaded from */
    int64_t not_after_s; /* notAfter, seconds since the epoch */
} cw_sec_cert_info_t;

typedef int (*cw_sec_cert_cb)(const cw_sec_cert_info_t *cert, void *arg);

/* Calls cb for the node's certificate (if the snapshot can sign), then for
 * each partner's in the order of the configuration, then for each watched
 * one (cw_sec_keys_conf_t.watched); stops at, and returns,
 * the first value of cb that is not 0. Any thread; borrowed strings. */
int cw_sec_keys_certs_each(const cw_sec_keys_t *keys, cw_sec_cert_cb cb, void *arg);

/* ==== Verification and signing (xmldsig.c) ==== */

#define CW_SEC_SKEW_S_DEFAULT 300u /* accepted |Timestamp - now| */

typedef struct cw_sec_verify_opts {
    int64_t now_s;                   /* 0: the wall clock */
    uint32_t skew_s;                 /* Timestamp window, both directions */
    const char *peer_party_id;       /* TLS client's party; NULL: not checked */
    const cw_sec_schemas_t *schemas; /* NULL: no XSD validation */
    int want_doc_sha256;             /* 1: set verified.doc_sha256 if it comes on the way */
} cw_sec_verify_opts_t;

#define CW_SEC_VERIFY_OPTS_INIT                 \
    {                                           \
        0, CW_SEC_SKEW_S_DEFAULT, NULL, NULL, 0 \
    }

/* What the verifier established about a document. */
typedef struct cw_sec_verified {
    cw_sec_problem_e problem;     /* CW_SEC_PROBLEM_NONE when everything passed */
    int authenticated;            /* 1: the signature verified with From's registered key,
                                     even if a later check (time, schema) failed; such a
                                     sender gets a signed negative receipt */
    char from[128];               /* Header/From (valid when authenticated) */
    int64_t timestamp_s;          /* Header/Timestamp, seconds since the epoch */
    size_t cert_index;            /* which of From's certificates verified (rollover) */
    int has_doc_sha256;           /* 1: doc_sha256 is set (asked for by want_doc_sha256) */
    unsigned char doc_sha256[32]; /* cw_sec_doc_sha256(doc), when the verification made it
                                     on the way (SHA-256 signatures); else compute it */
} cw_sec_verified_t;

/*
 * Verifies an envelope parsed by cw_sec_xml_parse against the policy of
 * docs/security.md, in this order: root and Header/From readable; From
 * registered; From == opts->peer_party_id (if set); signature structure and
 * algorithms; certificate chosen from From's registered ones (never by
 * KeyInfo) and valid now; cryptographic verification (return code, status
 * and reference checks); Timestamp within opts->skew_s; XSD (if
 * opts->schemas). Returns 0 when all passed; otherwise a negative CW_E*
 * (CW_EPROTO, CW_EPERM, CW_ESIG, CW_ESTALE, CW_ENOMEM, CW_ECRYPTO),
 * out->problem says which rule failed, err the detail. After success the
 * caller processes this same doc: the signature covers all of it (URI="").
 * doc is not modified. Thread: any worker; never calls back.
 */
CW_MUST_CHECK int cw_sec_envelope_verify(cw_sec_verified_t *out,
                                         const cw_sec_keys_t *keys,
                                         xmlDoc *doc,
                                         const cw_sec_verify_opts_t *opts,
                                         cw_error_t *err);

/*
 * Signs doc with the node key: appends an enveloped ds:Signature as the last
 * child of the root (URI="", exclusive C14N, SHA-256, ECDSA-SHA256 or
 * RSA-SHA256 by key type) with the node certificate in KeyInfo/X509Data.
 * Returns 0, CW_EINVAL if keys cannot sign or doc is already signed,
 * CW_ECRYPTO or CW_ENOMEM. Thread: any worker.
 */
CW_MUST_CHECK int cw_sec_doc_sign(const cw_sec_keys_t *keys, xmlDoc *doc, cw_error_t *err);

/*
 * cw_sec_doc_sign, and the bytes to send: *out (NUL-terminated, the caller
 * cw_free()s it; *out_len bytes) is the signed document's exclusive
 * canonical form, Signature included (UTF-8, no XML declaration), and
 * digest, when not NULL, their SHA-256: cw_sec_doc_sha256 of the signed
 * document, what a receiver's receipt for it names. Made from the
 * canonical form the signature needed anyway (the document without its
 * Signature) with the Signature's spliced in: neither a second walk of the
 * tree nor a serialiser's. The errors of cw_sec_doc_sign, and CW_E2BIG
 * past 2 GiB.
 */
CW_MUST_CHECK int cw_sec_doc_sign_c14n(const cw_sec_keys_t *keys,
                                       xmlDoc *doc,
                                       char **out,
                                       size_t *out_len,
                                       unsigned char digest[32],
                                       cw_error_t *err);

/*
 * Writing a document the node makes in a fixed shape (the sealed envelope)
 * straight in its exclusive canonical form, with no tree to build, walk
 * and free: the caller writes the document without its Signature with the
 * helpers below, and cw_sec_sign_written signs it as cw_sec_doc_sign
 * signs a tree and hands out the bytes as cw_sec_doc_sign_c14n does.
 * Elements the caller writes itself are in one namespace, declared once on
 * the root; text and attribute values go through the helpers.
 */

/* Appends s as canonical text (& < > and CR escaped) or as an attribute
 * value (& < " TAB LF CR escaped; the quotes are the caller's). 0,
 * CW_ENOMEM or CW_E2BIG. */
CW_MUST_CHECK int cw_sec_c14n_put_text(cw_buf_t *out, const char *s);
CW_MUST_CHECK int cw_sec_c14n_put_attr(cw_buf_t *out, const char *s);
/* <name>text</name>, text escaped; name is the caller's (no prefix, no
 * attribute). */
CW_MUST_CHECK int cw_sec_c14n_put_leaf(cw_buf_t *out, const char *name, const char *text);

/*
 * Appends elem's subtree in exclusive canonical form as it comes out when
 * elem sits under elements that rendered default_ns (NULL or "": none) as
 * their default namespace and nothing else: elem's own ancestors do not
 * count, so what it uses of theirs is declared on it. CW_EINVAL, with a
 * part of it written: something only libxml2 canonicalises (an entity
 * reference, a very deep or wide element): build the document as a tree.
 */
CW_MUST_CHECK int cw_sec_c14n_put_elem(cw_buf_t *out, const xmlNode *elem, const char *default_ns);

/*
 * Signs doc (len bytes, the exclusive canonical form of a document without
 * its Signature) with the node key, the Signature going at byte sig_at
 * (the last child of the root: just before its end tag), exactly as
 * cw_sec_doc_sign would sign the same tree. *out (NUL-terminated, the
 * caller cw_free()s it) and digest (when not NULL) as cw_sec_doc_sign_c14n.
 * 0, CW_EINVAL (no node key, sig_at past len, len past 1 GiB),
 * CW_ECRYPTO or CW_ENOMEM.
 */
CW_MUST_CHECK int cw_sec_sign_written(const cw_sec_keys_t *keys,
                                      const char *doc,
                                      size_t len,
                                      size_t sig_at,
                                      char **out,
                                      size_t *out_len,
                                      unsigned char digest[32],
                                      cw_error_t *err);
typedef enum cw_sec_sign_profile_e {
    CW_SEC_SIGN_CLEARWAY = 0, /* exclusive C14N, SHA-256 (cw_sec_doc_sign) */
    CW_SEC_SIGN_CEB = 1,      /* China customs CEB: inclusive C14N, SHA-1 digest,
                                 RSA-SHA1 (ECDSA-SHA1 with an EC node key) */
} cw_sec_sign_profile_e;

/*
 * Same as cw_sec_doc_sign with the algorithms of profile: an enveloped
 * signature, URI="", the node certificate in KeyInfo. For documents in a
 * partner's own format whose ecosystem verifies other algorithms (CEB621).
 */
CW_MUST_CHECK int cw_sec_doc_sign_profile(const cw_sec_keys_t *keys,
                                          xmlDoc *doc,
                                          cw_sec_sign_profile_e profile,
                                          cw_error_t *err);

/* ==== Receipts (receipt.c) ==== */

#define CW_SEC_RECEIPT_NS "urn:clearway:receipt:1"

typedef struct cw_sec_receipt_params {
    const char *receipt_id;      /* NULL: a new UUID */
    const char *ref_message_id;  /* MessageId of the received envelope */
    const char *to;              /* the party that sent it */
    cw_sec_problem_e problem;    /* NONE: accepted; else rejected with this type */
    const char *detail;          /* optional one line for a negative receipt */
    int64_t now_s;               /* 0: the wall clock */
    const xmlNode *attachment;   /* optional: copied into <Attachment> (e.g. the
                                    assessment), signed with the receipt */
    const unsigned char *digest; /* optional: cw_sec_doc_sha256(received), when
                                    the caller has it already (32 bytes) */
} cw_sec_receipt_params_t;

/*
 * Builds and signs a receipt for received (From = this node). The digest is
 * cw_sec_doc_sha256(received), or params->digest if set. *out (NUL-terminated,
 * the signed receipt in its exclusive canonical form, cw_sec_doc_sign_c14n)
 * is owned by the caller (cw_free). Thread: any worker.
 */
CW_MUST_CHECK int cw_sec_receipt_build(char **out,
                                       size_t *len_out,
                                       const cw_sec_keys_t *keys,
                                       xmlDoc *received,
                                       const cw_sec_receipt_params_t *params,
                                       cw_error_t *err);

typedef enum cw_sec_receipt_status_e {
    CW_SEC_RECEIPT_ACCEPTED = 0,
    CW_SEC_RECEIPT_REJECTED = 1,
} cw_sec_receipt_status_e;

/* A verified receipt's content. */
typedef struct cw_sec_receipt {
    cw_sec_receipt_status_e status;
    cw_sec_problem_e problem; /* for REJECTED: the receiver's problem kind */
    char receipt_id[128];
    char from[128];
    char ref_message_id[128];
    int64_t timestamp_s;
    int names_other; /* 1: signed by the expected party, but for another MessageId or
                        digest than the ones given (RECEIPT_MISMATCH after the signature) */
} cw_sec_receipt_t;

/*
 * Verifies a receipt (parsed by cw_sec_xml_parse) from expected_from for the
 * envelope we sent: same signature policy as envelopes with expected_from's
 * registered certificates, RefToMessageId == sent_message_id and Digest ==
 * sent_sha256 (else CW_EPROTO with problem RECEIPT_MISMATCH). Fills out and
 * returns 0 for both positive and negative receipts; *problem_out says why
 * the receipt itself was refused. Thread: any worker.
 */
CW_MUST_CHECK int cw_sec_receipt_verify(cw_sec_receipt_t *out,
                                        const cw_sec_keys_t *keys,
                                        xmlDoc *receipt,
                                        const char *expected_from,
                                        const char *sent_message_id,
                                        const unsigned char sent_sha256[32],
                                        const cw_sec_verify_opts_t *opts,
                                        cw_sec_problem_e *problem_out,
                                        cw_error_t *err);

#endif /* CW_SEC_H */
