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
