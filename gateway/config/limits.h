/*
 * Every limit Clearway enforces on input, with its default, its allowed range
 * in the configuration file and the reason for the default (STYLE.md rule 46,
 * after SQLite's sqliteLimit.h). Included by config.h; use the values through
 * a cw_conf_limits_t snapshot, never directly, except for defaults.
 */
#ifndef CW_CONFIG_LIMITS_H
#define CW_CONFIG_LIMITS_H

/*
 * Request line plus header fields. 16 KiB holds any legitimate client's
 * headers several times over (nginx uses 8 KiB buffers) and bounds what a
 * client can make us hold before it has sent a body. Above: 431.
 */
#define CW_LIMIT_HEADER_BYTES_DEFAULT (16u * 1024u)
#define CW_LIMIT_HEADER_BYTES_MIN     1024u
#define CW_LIMIT_HEADER_BYTES_MAX     (1024u * 1024u)

/* Header fields per request. Our clients send fewer than 20. Above: 431. */
#define CW_LIMIT_HEADER_COUNT_DEFAULT 64u
#define CW_LIMIT_HEADER_COUNT_MIN     8u
#define CW_LIMIT_HEADER_COUNT_MAX     1024u

/* Request target. Our routes are short; a long target is an attack or a
 * misconfigured client. Above: 414. */
#define CW_LIMIT_URL_BYTES_DEFAULT 4096u
#define CW_LIMIT_URL_BYTES_MIN     256u
#define CW_LIMIT_URL_BYTES_MAX     65536u

/* Request body after de-chunking. A signed envelope with a 10,000-parcel
 * manifest as evidence fits in 8 MiB; larger input is split by the sender.
 * Above: 413. */
#define CW_LIMIT_BODY_BYTES_DEFAULT (8u * 1024u * 1024u)
#define CW_LIMIT_BODY_BYTES_MIN     1024u
#define CW_LIMIT_BODY_BYTES_MAX     (256u * 1024u * 1024u)

/* Open client connections. Each idle connection costs a few KiB; 10,000
 * keeps a node well under 100 MB even when all are open. Above: the new
 * connection is closed at once. */
#define CW_LIMIT_CONNECTIONS_DEFAULT 10000u
#define CW_LIMIT_CONNECTIONS_MIN     1u
#define CW_LIMIT_CONNECTIONS_MAX     1000000u

/* Requests parsed ahead of their responses on one connection (pipelining).
 * Reading pauses at this depth, so a client cannot queue unbounded work. */
#define CW_LIMIT_PIPELINE_DEFAULT 16u
#define CW_LIMIT_PIPELINE_MIN     1u
#define CW_LIMIT_PIPELINE_MAX     1024u

/* From the first byte of a request to the end of its headers. Cuts
 * slowloris clients: 10 s is generous for any real client. Then: 408. */
#define CW_LIMIT_HEADER_TIMEOUT_MS_DEFAULT 10000u
/* From the end of the headers to the end of the body. Then: 408. */
#define CW_LIMIT_BODY_TIMEOUT_MS_DEFAULT 30000u
/* Keep-alive wait for the next request; the connection is closed quietly. */
#define CW_LIMIT_IDLE_TIMEOUT_MS_DEFAULT 60000u
/* A client that reads none of our response for this long is cut. */
#define CW_LIMIT_WRITE_TIMEOUT_MS_DEFAULT 30000u
/* SIGTERM: how long in-flight requests may run before the node stops. */
#define CW_LIMIT_DRAIN_TIMEOUT_MS_DEFAULT 10000u
#define CW_LIMIT_TIMEOUT_MS_MIN           10u
#define CW_LIMIT_TIMEOUT_MS_MAX           3600000u

/* A TLS handshake that has not finished after this is cut: a stalled
 * client holds a connection and handshake state. */
#define CW_LIMIT_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000u

/* Response bytes queued for a slow reader before we stop reading its next
 * requests (write back-pressure). */
#define CW_LIMIT_WRITE_BUFFER_DEFAULT (1024u * 1024u)
#define CW_LIMIT_WRITE_BUFFER_MIN     4096u
#define CW_LIMIT_WRITE_BUFFER_MAX     (256u * 1024u * 1024u)

/*
 * The largest answer the node itself may render, whatever the request and
 * write buffer limits. An inbound document's answer lists each of its up to
 * 10,000 consignments and 1,000 row errors; short or broken rows make it
 * many times the size of the document (1,000 bad 5-byte rows: an 80 KB
 * answer to a 5 KB body), so capping it at the body limit turned an
 * accepted document into a 500. Nothing is allocated up to this size
 * unless an answer is that large. Not configurable.
 */
#define CW_LIMIT_ANSWER_BYTES_FLOOR (64u * 1024u * 1024u)

/* Untrusted XML is refused before parsing above this size. Equal to the
 * body limit by default: an envelope is the whole body, so a larger value
 * has no effect and the maximum is the body maximum. */
#define CW_LIMIT_XML_BYTES_DEFAULT CW_LIMIT_BODY_BYTES_DEFAULT
#define CW_LIMIT_XML_BYTES_MIN     1024u
#define CW_LIMIT_XML_BYTES_MAX     CW_LIMIT_BODY_BYTES_MAX
/* Element nesting. Our documents nest fewer than 12 levels; libxml2's own
 * limit is 256 and stays in force (never XML_PARSE_HUGE). */
#define CW_LIMIT_XML_DEPTH_DEFAULT 64u
#define CW_LIMIT_XML_DEPTH_MIN     8u
#define CW_LIMIT_XML_DEPTH_MAX     256u
/* Nodes in one document: bounds tree memory (about 120 bytes a node). */
#define CW_LIMIT_XML_NODES_DEFAULT 200000u
#define CW_LIMIT_XML_NODES_MIN     100u
#define CW_LIMIT_XML_NODES_MAX     10000000u

/* Accepted difference between a message's Timestamp and our clock, both
 * ways: wide enough for unsynchronised clocks and queueing at the sender,
 * narrow enough to bound the replay window (and the dedupe memory). */
#define CW_LIMIT_TIMESTAMP_SKEW_S_DEFAULT 300u
#define CW_LIMIT_TIMESTAMP_SKEW_S_MIN     1u
#define CW_LIMIT_TIMESTAMP_SKEW_S_MAX     86400u

/* Delivery defaults of a <route>: retry for a day with exponential backoff
 * from 1 s to 5 min (full jitter), at most 16 deliveries in flight, the window starting at 4. */
#define CW_LIMIT_ROUTE_CONNECT_TIMEOUT_MS_DEFAULT  5000u
#define CW_LIMIT_ROUTE_TIMEOUT_MS_DEFAULT          30000u
#define CW_LIMIT_ROUTE_MAX_ATTEMPTS_DEFAULT        50u
#define CW_LIMIT_ROUTE_MAX_ATTEMPTS_MAX            100000u
#define CW_LIMIT_ROUTE_MAX_AGE_S_DEFAULT           86400u
#define CW_LIMIT_ROUTE_MAX_AGE_S_MAX               (30u * 86400u)
#define CW_LIMIT_ROUTE_BASE_DELAY_MS_DEFAULT       1000u
#define CW_LIMIT_ROUTE_MAX_DELAY_MS_DEFAULT        300000u
#define CW_LIMIT_ROUTE_CONCURRENCY_DEFAULT         32u
#define CW_LIMIT_ROUTE_INITIAL_CONCURRENCY_DEFAULT 4u
#define CW_LIMIT_ROUTE_CONCURRENCY_MAX             256u
#define CW_LIMIT_ROUTE_MAX                         1024u

/* Group commit: writes waiting when a transaction starts go into it, up to
 * this many (measured: 43,000 messages/s grouped by 64 against 6,100
 * commits/s one by one on a 2-core machine). */
#define CW_LIMIT_STORE_GROUP_DEFAULT 64u
#define CW_LIMIT_STORE_GROUP_MAX     4096u
/* Delivered messages and their evidence are purged after this many days. */
#define CW_LIMIT_STORE_RETENTION_DAYS_DEFAULT 30u
#define CW_LIMIT_STORE_RETENTION_DAYS_MAX     3650u

/* Registered partners per node. */
#define CW_LIMIT_PARTNER_MAX 1024u

/* Worker threads for CPU-heavy work; 0 means one per core. libuv's pool
 * is shared with file system work, so it is sized to at least 4. */
#define CW_LIMIT_WORKERS_MIN 0u
#define CW_LIMIT_WORKERS_MAX 128u

/* listen(2) backlog. 511 is nginx's default. Linux silently lowers any
 * value to net.core.somaxconn, whose maximum was 65535 for many kernel
 * releases; a larger value is a typo rather than a need. */
#define CW_LIMIT_BACKLOG_DEFAULT 511
#define CW_LIMIT_BACKLOG_MIN     1
#define CW_LIMIT_BACKLOG_MAX     65535

/* Listening sockets per node. A node needs one public and one admin
 * listener per address family; 16 leaves room for multi-homed hosts and
 * bounds the sockets and file descriptors one file can ask for. Mirrored
 * by maxOccurs in schemas/config.xsd. */
#define CW_LIMIT_LISTEN_MAX 16u

/* The configuration file itself. Even with hundreds of partners and routes
 * a config stays far below 1 MiB; the cap bounds what a mistaken path
 * (a log file, a disk image) can make the daemon read and parse. */
#define CW_LIMIT_CONFIG_BYTES_MAX (1024u * 1024u)

#endif /* CW_CONFIG_LIMITS_H */
