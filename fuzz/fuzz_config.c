/*
 * Fuzz target: the configuration loader, cw_config_load_mem (config/):
 * parse, schema validation and the directive table.
 *
 * Besides crashes, leaks and undefined behaviour, it checks the documented
 * contract: a snapshot if and only if the result is 0, every failure
 * explained in errs (at most 100 lines plus the "more problems" line), and
 * every limit of an accepted snapshot within its range in limits.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ERRORS_STORED_MAX 101u /* 100 problems, then "N more problems not shown" */

static void contract_fail(const char *what)
{
    fprintf(stderr, "fuzz_config: contract broken: %s\n", what);
    abort();
}

static int in_range(uint64_t v, uint64_t min, uint64_t max)
{
    return v >= min && v <= max;
}

/* Everything a loaded snapshot promises to the rest of the daemon. */
static void snapshot_check(const cw_config_t *cfg)
{
    const cw_conf_limits_t *l = &cfg->limits;

    if (cfg->refcount != 1) {
        contract_fail("a new snapshot does not have one reference");
    }
    if (cfg->listen_count < 1 || cfg->listen_count > CW_LIMIT_LISTEN_MAX || cfg->listens == NULL) {
        contract_fail("listener count outside [1, CW_LIMIT_LISTEN_MAX]");
    }
    if (cfg->partner_count > CW_LIMIT_PARTNER_MAX
        || (cfg->partner_count > 0 && cfg->partners == NULL)) {
        contract_fail("partner count over CW_LIMIT_PARTNER_MAX");
    }
    if (memchr(cfg->node_id, '\0', sizeof(cfg->node_id)) == NULL || cfg->node_id[0] == '\0') {
        contract_fail("node id empty or not terminated");
    }
    if (!in_range(l->header_bytes_max, CW_LIMIT_HEADER_BYTES_MIN, CW_LIMIT_HEADER_BYTES_MAX)
        || !in_range(l->header_count_max, CW_LIMIT_HEADER_COUNT_MIN, CW_LIMIT_HEADER_COUNT_MAX)
        || !in_range(l->url_bytes_max, CW_LIMIT_URL_BYTES_MIN, CW_LIMIT_URL_BYTES_MAX)
        || !in_range(l->body_bytes_max, CW_LIMIT_BODY_BYTES_MIN, CW_LIMIT_BODY_BYTES_MAX)
        || !in_range(l->connections_max, CW_LIMIT_CONNECTIONS_MIN, CW_LIMIT_CONNECTIONS_MAX)
        || !in_range(l->pipeline_max, CW_LIMIT_PIPELINE_MIN, CW_LIMIT_PIPELINE_MAX)
        || !in_range(l->header_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX)
        || !in_range(l->body_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX)
        || !in_range(l->idle_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX)
        || !in_range(l->write_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX)
        || !in_range(l->drain_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX)
        || !in_range(l->write_buffer_bytes_max, CW_LIMIT_WRITE_BUFFER_MIN,
                     CW_LIMIT_WRITE_BUFFER_MAX)
        || !in_range(l->xml_bytes_max, CW_LIMIT_XML_BYTES_MIN, CW_LIMIT_XML_BYTES_MAX)
        || !in_range(l->xml_depth_max, CW_LIMIT_XML_DEPTH_MIN, CW_LIMIT_XML_DEPTH_MAX)
        || !in_range(l->xml_nodes_max, CW_LIMIT_XML_NODES_MIN, CW_LIMIT_XML_NODES_MAX)
        || !in_range(l->timestamp_skew_s, CW_LIMIT_TIMESTAMP_SKEW_S_MIN,
                     CW_LIMIT_TIMESTAMP_SKEW_S_MAX)) {
        contract_fail("a limit outside its range in limits.h");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* What main does before any thread starts (STYLE.md rule 47). */
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cw_config_t *cfg = NULL;
    cw_config_errors_t errs;
    size_t i;
    int rc;

    cw_config_errors_init(&errs);
    rc = cw_config_load_mem(&cfg, "fuzz.xml", (const char *)data, size, &errs);
    if (rc < 0) {
        if (cfg != NULL) {
            contract_fail("failure with a snapshot in *out");
        }
        if (rc != CW_ECONFIG && rc != CW_ENOMEM) {
            contract_fail("failure code outside CW_ECONFIG and CW_ENOMEM");
        }
        if (rc == CW_ECONFIG && errs.count == 0) {
            contract_fail("CW_ECONFIG without a problem line");
        }
    } else if (cfg == NULL || errs.count != 0) {
        contract_fail("success without a snapshot, or with problem lines");
    } else {
        snapshot_check(cfg);
    }
    if (errs.count > ERRORS_STORED_MAX) {
        contract_fail("more problem lines stored than the documented cap");
    }
    for (i = 0; i < errs.count; i++) {
        if (errs.lines[i] == NULL || strncmp(errs.lines[i], "fuzz.xml", 8) != 0) {
            contract_fail("a problem line that does not start with the file name");
        }
    }
    cw_config_unref(cfg);
    cw_config_errors_fini(&errs);
    return 0;
}
