/*
 * What the end-to-end tests share (test_e2e.c, test_cluster.c): signed
 * consignments made with the CLI, posting them to a node's plain listener,
 * and waiting for a message's state in a node's status API.
 */
#include "e2e.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

/*
 * A consignment (the IOSS T-shirt fixture, with sed_expr applied when not
 * "") signed by client who for party to, with its own consignment id and
 * order number. Returns the envelope (heap; cw_free) and its MessageId in
 * id (the CLI makes it the ConversationId too, which forwarding keeps).
 */
char *e2e_consignment(const char *pki,
                      const char *who,
                      const char *to,
                      const char *sed_expr,
                      char *id,
                      size_t id_size)
{
    static unsigned serial;
    char path[512];
    char *xml;
    const char *p;
    size_t n;
    FILE *f;

    serial++;
    assert_int_equal(
        cw_test_sh("sed %s%s%s -e 's/CW-2026-000101/CW-E2E-%d-%u/' -e 's/SQ-88812/SQ-E2E-%d-%u/' "
                   "'%s/tests/data/consignments/eu-ioss-tshirts.xml' > '%s/c.xml' && '%s' sign "
                   "--key '%s/%s.key' --cert '%s/%s.pem' --from %s --to %s "
                   "--service ecommerce --action consignment '%s/c.xml' > '%s/env.xml'",
                   sed_expr[0] != '\0' ? "-e '" : "", sed_expr, sed_expr[0] != '\0' ? "'" : "",
                   (int)getpid(), serial, (int)getpid(), serial, getenv("CLEARWAY_SRC"), pki,
                   getenv("CLEARWAY_CLI"), pki, who, pki, who, who, to, pki, pki),
        0);
    snprintf(path, sizeof(path), "%s/env.xml", pki);
    f = fopen(path, "r");
    assert_non_null(f);
    xml = cw_malloc(1u << 18);
    assert_non_null(xml);
    n = fread(xml, 1, (1u << 18) - 1, f);
    xml[n] = '\0';
    fclose(f);
    p = strstr(xml, "<MessageId>");
    assert_non_null(p);
    p += strlen("<MessageId>");
    n = strcspn(p, "<");
    assert_true(n > 0 && n < id_size);
    memcpy(id, p, n);
    id[n] = '\0';
    return xml;
}

/* POSTs an envelope to a node's plain loopback listener; returns the HTTP
 * status (-1 when the node did not answer) and the body in body. */
int e2e_post(const cw_test_daemon_t *d, const char *xml, char *body, size_t size)
{
    cw_test_response_t r;
    cw_buf_t b;
    int status = -1;

    body[0] = '\0';
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(xml), xml),
        0);
    if (cw_test_roundtrip(d->port, b.data, b.len, &r) == 0) {
        status = r.status;
        cw_strlcpy(body, r.body != NULL ? r.body : "", size);
        cw_test_response_fini(&r);
    }
    cw_buf_fini(&b);
    return status;
}

/* Waits until message id from party from is in state want at node d. */
int e2e_wait_state(
    const cw_test_daemon_t *d, const char *from, const char *id, const char *want, int timeout_ms)
{
    static char body[1u << 17];
    long long deadline = cw_test_now_ms() + timeout_ms;
    char target[512];
    char needle[64];

    snprintf(target, sizeof(target), "/v1/messages/%s?from=%s", id, from);
    snprintf(needle, sizeof(needle), "\"state\":\"%s\"", want);
    while (cw_test_now_ms() < deadline) {
        if (cw_test_admin_get(d, target, body, sizeof(body)) == 200
            && strstr(body, needle) != NULL) {
            return 1;
        }
        cw_test_sleep_ms(50);
    }
    print_message("%s: %s from %s is not %s: %s\n", d->node, id, from, want, body);
    return 0;
}
