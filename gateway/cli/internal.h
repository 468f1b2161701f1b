/*
 * The clearway command-line tool: shared pieces of its commands.
 * Exit codes are documented in docs/cli.md and never change meaning.
 */
#ifndef CW_CLI_INTERNAL_H
#define CW_CLI_INTERNAL_H

#include <stddef.h>

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

#endif /* CW_CLI_INTERNAL_H */
