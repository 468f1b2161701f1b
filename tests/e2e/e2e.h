/*
 * What the end-to-end tests share (e2e.c). Failures are cmocka assertions.
 */
#ifndef CW_TEST_E2E_H
#define CW_TEST_E2E_H

#include <stddef.h>

#include "cw_test.h"

/*
 * A consignment (the IOSS T-shirt fixture, with sed_expr applied when not
 * "") signed by client who (its key and certificate in pki) for party to,
 * with its own consignment id and order number. Returns the envelope (heap;
 * cw_free) and its MessageId in id (the CLI makes it the ConversationId
 * too, which forwarding keeps).
 */
char *e2e_consignment(const char *pki,
                      const char *who,
                      const char *to,
                      const char *sed_expr,
                      char *id,
                      size_t id_size);

/* POSTs an envelope to a node's plain loopback listener; returns the HTTP
 * status (-1 when the node did not answer) and the body in body. */
int e2e_post(const cw_test_daemon_t *d, const char *xml, char *body, size_t size);

/* Waits until message id from party from is in state want at node d, as
 * its status API tells it; 1, or 0 (printed) after timeout_ms. */
int e2e_wait_state(
    const cw_test_daemon_t *d, const char *from, const char *id, const char *want, int timeout_ms);

#endif /* CW_TEST_E2E_H */
