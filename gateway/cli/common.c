/*
 * Pieces shared by the commands: bounded file reading and envelope making.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int cw_cli__read_file(char **out, size_t *len_out, const char *path, size_t max_bytes)
{
    FILE *f = NULL;
    cw_buf_t b;
    char chunk[16384];
    size_t n;
    int rc = 0;

    *out = NULL;
    *len_out = 0;
    cw_buf_init(&b, max_bytes);
    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        rc = CW_EIO;
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        CW_TRY(cw_buf_append(&b, chunk, n));
    }
    if (ferror(f)) {
        rc = CW_EIO;
        goto out;
    }
    CW_TRY(cw_buf_append(&b, "", 0));
    *out = cw_buf_detach(&b, len_out);
out:
    if (f != NULL && f != stdin) {
        (void)fclose(f);
    }
    cw_buf_fini(&b);
    return rc;
}

static int header_fill(cw_msg_header_t *h, const cw_cli_envelope_opts_t *o)
{
    memset(h, 0, sizeof(*h));
    if (o->message_id != NULL) {
        if (cw_strlcpy(h->message_id, o->message_id, sizeof(h->message_id))
            >= sizeof(h->message_id)) {
            return CW_E2BIG;
        }
    } else if (cw_msg_id_new(h->message_id, sizeof(h->message_id)) < 0) {
        return CW_ECRYPTO;
    }
    if (cw_strlcpy(h->conversation_id,
                   o->conversation_id != NULL ? o->conversation_id : h->message_id,
                   sizeof(h->conversation_id))
            >= sizeof(h->conversation_id)
        || cw_strlcpy(h->from, o->from, sizeof(h->from)) >= sizeof(h->from)
        || cw_strlcpy(h->to, o->to, sizeof(h->to)) >= sizeof(h->to)
        || cw_strlcpy(h->service, o->service, sizeof(h->service)) >= sizeof(h->service)
        || cw_strlcpy(h->action, o->action, sizeof(h->action)) >= sizeof(h->action)) {
        return CW_E2BIG;
    }
    if (o->ref_to_message_id != NULL
        && cw_strlcpy(h->ref_to_message_id, o->ref_to_message_id, sizeof(h->ref_to_message_id))
               >= sizeof(h->ref_to_message_id)) {
        return CW_E2BIG;
    }
    if (o->original_sender != NULL
        && cw_strlcpy(h->original_sender, o->original_sender, sizeof(h->original_sender))
               >= sizeof(h->original_sender)) {
        return CW_E2BIG;
    }
    cw_msg_timestamp_format(h->timestamp, sizeof(h->timestamp), cw_time_wall_s());
    return 0;
}

int cw_cli__envelope_make(char **out,
                          size_t *len_out,
                          const cw_cli_envelope_opts_t *opts,
                          const char *payload,
                          size_t len)
{
    cw_conf_limits_t limits;
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_sec_problem_e problem;
    cw_msg_header_t hdr;
    cw_error_t err;
    xmlDoc *pdoc = NULL;
    xmlDoc *env = NULL;
    int rc = CW_CLI_OK;

    *out = NULL;
    cw_error_clear(&err);
    cw_config_limits_default(&limits);
    memset(&conf, 0, sizeof(conf));
    conf.node_id = opts->from;
    conf.key_path = opts->key;
    conf.cert_path = opts->cert;
    if (cw_sec_keys_new(&keys, &conf, &err) < 0) {
        fprintf(stderr, "clearway: %s\n", err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    if (cw_sec_xml_parse(&pdoc, payload, len, &limits, &problem, &err) < 0) {
        fprintf(stderr, "clearway: payload: %s: %s\n", cw_sec_problem_slug(problem), err.msg);
        rc = CW_CLI_INVALID;
        goto out;
    }
    if (cw_msg_is_envelope(pdoc)) {
        fprintf(stderr, "clearway: the payload is already an envelope\n");
        rc = CW_CLI_INVALID;
        goto out;
    }
    if (header_fill(&hdr, opts) < 0) {
        fprintf(stderr, "clearway: a header value is too long\n");
        rc = CW_CLI_USAGE;
        goto out;
    }
    if (cw_msg_envelope_new(&env, &hdr, xmlDocGetRootElement(pdoc), &err) < 0
        || cw_sec_doc_sign(keys, env, &err) < 0 || cw_sec_xml_serialize(out, len_out, env) < 0) {
        fprintf(stderr, "clearway: cannot build the envelope: %s\n", err.msg);
        rc = CW_CLI_INTERNAL;
        goto out;
    }
out:
    if (pdoc != NULL) {
        xmlFreeDoc(pdoc);
    }
    if (env != NULL) {
        xmlFreeDoc(env);
    }
    cw_sec_keys_unref(keys);
    return rc;
}
