/*
 * Fuzz target: Clearway's exclusive C14N (sec/c14n.c) against libxml2's
 * xmlC14NExecute, on every document cw_sec_xml_parse accepts: the whole
 * document, then, for up to 32 elements picked by the input's first byte,
 * the element as the apex (SignedInfo's case) and the document without
 * the element (the enveloped signature's case).
 *
 * A difference in bytes is a finding: receivers verify what this node
 * signs with libxml2's canonical form. So is c14n.c producing output for
 * a tree libxml2 refuses, or answering anything but CW_EINVAL when it
 * leaves a tree to libxml2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "sec.h"
#include "sec/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PICKS_MAX 32

static cw_conf_limits_t limits;

static void finding(const char *what, const cw_buf_t *ours, const cw_buf_t *ref)
{
    fprintf(stderr, "fuzz_c14n: %s\nc14n.c:  %.*s\nlibxml2: %.*s\n", what,
            ours != NULL ? (int)ours->len : 0, ours != NULL && ours->data ? ours->data : "",
            ref != NULL ? (int)ref->len : 0, ref != NULL && ref->data ? ref->data : "");
    abort();
}

static void compare(xmlDoc *doc, const xmlNode *top, const xmlNode *skip)
{
    xmlOutputBuffer *buf = xmlAllocOutputBuffer(NULL);
    cw_buf_t ours;
    cw_buf_t ref;
    int rc;
    int n;

    if (buf == NULL) {
        return;
    }
    cw_buf_init(&ours, (size_t)64 << 20);
    cw_buf_init(&ref, (size_t)64 << 20);
    n = cw_sec__c14n_libxml2(buf, doc, top, skip, XML_C14N_EXCLUSIVE_1_0);
    if (n >= 0
        && cw_buf_append(&ref, xmlOutputBufferGetContent(buf), xmlOutputBufferGetSize(buf)) < 0) {
        n = -1; /* out of memory: nothing to compare */
        rc = CW_EINVAL;
        goto out;
    }
    rc = cw_sec__exc_c14n(&ours, top, skip);
    if (rc == 0 && n < 0) {
        finding("canonicalised a tree libxml2 refuses", &ours, NULL);
    }
    if (rc == 0
        && (ours.len != ref.len || (ours.len > 0 && memcmp(ours.data, ref.data, ours.len) != 0))) {
        finding("canonical forms differ", &ours, &ref);
    }
    if (rc < 0 && rc != CW_EINVAL && rc != CW_ENOMEM && rc != CW_E2BIG) {
        finding("unexpected error code", NULL, NULL);
    }
out:
    (void)xmlOutputBufferClose(buf);
    cw_buf_fini(&ours);
    cw_buf_fini(&ref);
}

static size_t elements(const xmlNode *n, const xmlNode **out, size_t len)
{
    for (; n != NULL && len < 4096; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            out[len++] = n;
            len = elements(n->children, out, len);
        }
    }
    return len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cw_error_t err;

    (void)argc;
    (void)argv;
    cw_error_clear(&err);
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "fuzz_c14n: cw_sec_lib_init: %s\n", err.msg);
        exit(1);
    }
    cw_config_limits_default(&limits);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const xmlNode *elems[4096];
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_error_t err;
    size_t n;
    size_t step;

    cw_error_clear(&err);
    if (cw_sec_xml_parse(&doc, (const char *)data, size, &limits, &problem, &err) < 0) {
        return 0;
    }
    compare(doc, (const xmlNode *)doc, NULL);
    n = elements(doc->children, elems, 0);
    /* Every element of a small tree; a spread of a large one. */
    step = n <= PICKS_MAX ? 1 : n / PICKS_MAX;
    for (size_t i = size > 0 ? data[0] % step : 0; i < n; i += step) {
        compare(doc, elems[i], NULL);
        compare(doc, (const xmlNode *)doc, elems[i]);
    }
    xmlFreeDoc(doc);
    return 0;
}
