/*
 * Fuzz target: the safe XML intake, cw_sec_xml_parse (sec/xml.c), with the
 * default limits. What it accepts goes through the serialiser and the
 * receipt digest (exclusive C14N), which every accepted message meets.
 *
 * Besides crashes, leaks and undefined behaviour, it checks the documented
 * contract (rc, *out and *problem_out agree) and the policy of STYLE.md
 * rule 46 on every accepted tree, with a walk of its own: no DTD, no
 * entity reference, depth and node count within the limits, and no
 * namespace URI holding '&', '<', '"' or a control character.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "fuzz_common.h"
#include "sec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set once by LLVMFuzzerInitialize, read-only afterwards. */
static cw_conf_limits_t limits;

/* A broken contract is a finding: report it the way a sanitizer would. */
static void contract_fail(const char *what, const cw_error_t *err)
{
    fprintf(stderr, "fuzz_xml_parse: contract broken: %s (last error %s: %s)\n", what,
            cw_err_name(err->code), err->msg);
    abort();
}

/* Rule 46 on the finished tree, independently of xml.c's own walk. */
static void accepted_tree_check(const xmlDoc *doc, const cw_error_t *err)
{
    const xmlNode *n = doc->children;
    const xmlAttr *a;
    const xmlNs *ns;
    uint64_t nodes = 0;
    uint32_t depth = 1;

    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        contract_fail("accepted a document with a DOCTYPE", err);
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        contract_fail("accepted a document without a root element", err);
    }
    while (n != NULL) {
        nodes++;
        /* depth is n's: the limit is on elements, a text node inside the
         * deepest allowed element is not one level too deep. */
        if (n->type == XML_ELEMENT_NODE && depth > limits.xml_depth_max) {
            contract_fail("accepted a tree over xml_depth_max", err);
        }
        if (n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_DECL || n->type == XML_DTD_NODE
            || n->type == XML_XINCLUDE_START) {
            contract_fail("accepted a tree with an entity, DTD or XInclude node", err);
        }
        for (a = n->type == XML_ELEMENT_NODE ? n->properties : NULL; a != NULL; a = a->next) {
            nodes++;
        }
        for (ns = n->type == XML_ELEMENT_NODE ? n->nsDef : NULL; ns != NULL; ns = ns->next) {
            if (ns->href != NULL
                && strpbrk((const char *)ns->href,
                           "&<\"\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f"
                           "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e"
                           "\x1f\x7f")
                       != NULL) {
                contract_fail("accepted a namespace URI a sealed envelope cannot carry", err);
            }
        }
        if (nodes > limits.xml_nodes_max) {
            contract_fail("accepted a tree over xml_nodes_max", err);
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            depth++;
            continue;
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            depth--;
            if (n == (const xmlNode *)doc) {
                n = NULL;
            }
        }
        if (n != NULL) {
            n = n->next;
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cw_fuzz_sec_init("fuzz_xml_parse", &limits);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_INTERNAL;
    cw_error_t err;
    unsigned char digest[32];
    char *text = NULL;
    size_t text_len = 0;
    int rc;

    cw_error_clear(&err);
    rc = cw_sec_xml_parse(&doc, (const char *)data, size, &limits, &problem, &err);
    if (rc < 0) {
        if (doc != NULL) {
            contract_fail("failure with a document in *out", &err);
        }
        if (rc != CW_EPARSE && rc != CW_E2BIG && rc != CW_ENOMEM) {
            contract_fail("failure code outside CW_EPARSE, CW_E2BIG, CW_ENOMEM", &err);
        }
        if (rc != CW_ENOMEM && problem == CW_SEC_PROBLEM_NONE) {
            contract_fail("input refused without a problem kind", &err);
        }
        if (err.code != rc || memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
            contract_fail("error detail does not match the return code", &err);
        }
        goto out;
    }
    if (doc == NULL || problem != CW_SEC_PROBLEM_NONE) {
        contract_fail("success without a document, or with a problem kind", &err);
    }
    accepted_tree_check(doc, &err);

    /*
     * What an accepted message meets next. Their results do not matter
     * here: serialising fails only on OOM, and C14N also refuses relative
     * namespace URIs, which the parser accepts.
     */
    rc = cw_sec_xml_serialize(&text, &text_len, doc);
    if (rc == 0 && text == NULL) {
        contract_fail("serialiser succeeded without text", &err);
    }
    rc = cw_sec_doc_sha256(digest, doc, &err);
    (void)rc;
out:
    cw_free(text);
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return 0;
}
