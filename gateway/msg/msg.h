/*
 * msg: the envelope model (docs/envelope.md). Reads the header fields of an
 * envelope that sec/ has parsed (and usually verified), builds new
 * envelopes, and makes message ids and timestamps.
 *
 * msg never parses bytes: untrusted XML is parsed only by sec/xml
 * (cw_sec_xml_parse). It depends on util, config and libxml2 (and on
 * OpenSSL's random generator for ids). Every function may run on any
 * thread; none calls back.
 */
#ifndef CW_MSG_H
#define CW_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "util.h"

#define CW_MSG_NS "urn:clearway:envelope:1"

/* Largest identifier, party id or timestamp, including the terminator. */
#define CW_MSG_ID_MAX   128
#define CW_MSG_NAME_MAX 256

/*
 * The header of an envelope, each field the full text of its element with
 * surrounding white space removed. Optional fields are "" when absent.
 */
typedef struct cw_msg_header {
    char message_id[CW_MSG_ID_MAX];        /* unique per sender; dedupe key with from */
    char conversation_id[CW_MSG_ID_MAX];   /* ties order, payment, waybill, declaration */
    char ref_to_message_id[CW_MSG_ID_MAX]; /* optional */
    char from[CW_MSG_ID_MAX];              /* party at the other end of the hop */
    char to[CW_MSG_ID_MAX];
    char original_sender[CW_MSG_ID_MAX]; /* optional: where the data came from */
    char service[CW_MSG_NAME_MAX];
    char action[CW_MSG_NAME_MAX];
    char timestamp[CW_MSG_ID_MAX]; /* RFC 3339, as sent */
} cw_msg_header_t;

/* 1 when doc's root is {urn:clearway:envelope:1}Envelope, else 0. */
int cw_msg_is_envelope(const xmlDoc *doc);

/*
 * Reads Envelope/Header strictly: the elements of schemas/envelope.xsd in
 * its order, each one only text (comments inside a value are skipped, never
 * a cut), every required field non-empty. Returns 0, or CW_EPROTO with the
 * offending field in err (map to problem "header-invalid"). doc is
 * borrowed; out is filled by value.
 */
CW_MUST_CHECK int cw_msg_header_read(cw_msg_header_t *out, const xmlDoc *doc, cw_error_t *err);

/*
 * The business document: the first element child of Envelope/Payload, or
 * NULL. Borrowed from doc.
 */
xmlNode *cw_msg_business_doc(const xmlDoc *doc);

/*
 * The Header fields of schemas/envelope.xsd in order, for writing one
 * without a tree: 1 and the i-th field's element name and value in hdr
 * (empty: an optional field left out), or 0 past the last.
 */
int cw_msg_header_field(const cw_msg_header_t *hdr,
                        size_t i,
                        const char **name,
                        const char **value);

/* 0 when every required field of hdr is non-empty, else CW_EINVAL naming
 * the first empty one in err. */
CW_MUST_CHECK int cw_msg_header_check(const cw_msg_header_t *hdr, cw_error_t *err);

/*
 * Builds an unsigned envelope with hdr (RefToMessageId and OriginalSender
 * only when non-empty) and a deep copy of business_doc as the payload.
 * *out is a new document owned by the caller (xmlFreeDoc); sign it with
 * cw_sec_doc_sign. Returns 0, CW_EINVAL (a required field is empty) or
 * CW_ENOMEM.
 */
CW_MUST_CHECK int cw_msg_envelope_new(xmlDoc **out,
                                      const cw_msg_header_t *hdr,
                                      const xmlNode *business_doc,
                                      cw_error_t *err);

/* What a forwarding node puts into its own envelope. */
typedef struct cw_msg_forward_params {
    const char *node_id;    /* this node: the new From */
    const char *to;         /* the destination party: the new To */
    const char *message_id; /* the new MessageId; NULL: a new UUID */
    int64_t now_s;          /* the new Timestamp */
    const char *received;   /* the envelope exactly as received (evidence) */
    size_t received_len;
    const xmlNode *assessment; /* optional: this node's assessment document, added as
                                  <Assessment node="node_id"> (a copy is taken) */
    /* Evidence of a partner's native document (inbound adapters): */
    const char *evidence_media_type;      /* NULL: application/xml */
    const char *evidence_original_id;     /* NULL: in_hdr->message_id */
    const unsigned char *evidence_sha256; /* 32 bytes of the whole original; with
                                             received NULL the content is left out
                                             (kept at this node under that id) */
} cw_msg_forward_params_t;

/*
 * What the forwarded envelope holds (below), worked out once for both ways
 * of making it: cw_msg_forward_new builds it as a tree; the pipeline's seal
 * writes it straight in canonical form (pipeline/seal.c). Pointers are
 * borrowed from received and params; content_b64 is owned.
 */
typedef struct cw_msg_forward_parts {
    cw_msg_header_t hdr;         /* the new header */
    const xmlNode *business;     /* the business document, in received */
    const xmlNode *in_payload;   /* received's Payload: its Assessments travel on */
    const xmlNode *assessment;   /* params->assessment or NULL */
    const char *node_id;         /* the new Assessment's node attribute */
    const char *original_id;     /* Evidence/OriginalMessageId */
    const char *original_sender; /* Evidence/OriginalSender */
    const char *media_type;      /* Evidence/MediaType */
    char sha256_hex[65];         /* Evidence/Sha256 */
    char *content_b64;           /* Evidence/Content */
} cw_msg_forward_parts_t;

/* Fills parts for received (see cw_msg_forward_new). 0, or its errors;
 * on success release with cw_msg_forward_parts_fini. */
CW_MUST_CHECK int cw_msg_forward_parts_init(cw_msg_forward_parts_t *parts,
                                            const xmlDoc *received,
                                            const cw_msg_header_t *in_hdr,
                                            const cw_msg_forward_params_t *params,
                                            cw_error_t *err);
void cw_msg_forward_parts_fini(cw_msg_forward_parts_t *parts);

/* 1 when n is an Assessment element of the envelope namespace. */
int cw_msg_is_assessment(const xmlNode *n);

/*
 * Builds the unsigned envelope a node forwards for received (whose header
 * is in_hdr): a new MessageId, From = node_id, To = to, OriginalSender kept
 * (or set to in_hdr->from on the first hop), the same ConversationId,
 * RefToMessageId, Service and Action, a copy of the business document and
 * of every Assessment, and one Evidence with the received bytes (base64),
 * their media type, SHA-256 and the original MessageId and sender. *out is
 * owned by the caller (xmlFreeDoc); sign it with cw_sec_doc_sign. Returns
 * 0, CW_EINVAL (no business document), CW_E2BIG or CW_ENOMEM. Any thread.
 */
CW_MUST_CHECK int cw_msg_forward_new(xmlDoc **out,
                                     const xmlDoc *received,
                                     const cw_msg_header_t *in_hdr,
                                     const cw_msg_forward_params_t *params,
                                     cw_error_t *err);

/* Writes a new random message id (UUID version 4, 36 characters) into out
 * (at least 37 bytes). Returns 0, or CW_ECRYPTO if no randomness is left. */
CW_MUST_CHECK int cw_msg_id_new(char *out, size_t size);

/* Writes t (epoch seconds) as an RFC 3339 UTC timestamp, 2026-11-29T10:00:00Z
 * (at least 21 bytes). */
void cw_msg_timestamp_format(char *out, size_t size, int64_t t);

#endif /* CW_MSG_H */
