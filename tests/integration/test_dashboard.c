/*
 * The operator's dashboard (GET /dashboard) in a running clearwayd: an HTML
 * page on the admin listener with its security headers; its counts follow
 * an accepted consignment (messages by state, requests, the ledger's lane
 * and destination tables with duty and tax in major units); a string read
 * from the store is escaped; the public listener refuses it, POST is 405,
 * HEAD has no body; and with a broken store the page is still served,
 * saying the node is not ready and the store could not be read.
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "util.h"

static char pki[256];
static cw_test_daemon_t hub;

#define PAGE_MAX (1u << 20)

/* ==== Helpers ==== */

/* Sends raw to port; the response in *r (cw_test_response_fini). */
static void roundtrip(int port, const char *raw, cw_test_response_t *r)
{
    assert_int_equal(cw_test_roundtrip(port, raw, strlen(raw), r), 0);
}

/* GET /dashboard on the admin listener: the status, the page in out. */
static int dashboard(char *out, size_t size)
{
    return cw_test_admin_get(&hub, "/dashboard", out, size);
}

/*
 * Signs the IOSS T-shirt consignment (its own ids, so that each is a new
 * one) as alice for party to and POSTs it to the hub's public listener.
 * Returns the HTTP status.
 */
static int send_consignment(const char *to)
{
    static unsigned serial;
    char path[512];
    char *xml;
    size_t n;
    FILE *f;
    cw_test_response_t r;
    cw_buf_t b;
    int status;

    serial++;
    assert_int_equal(cw_test_sh("sed -e 's/CW-2026-000101/CW-D-%u/' -e 's/SQ-88812/SQ-D-%u/' "
                                "'%s/tests/data/consignments/eu-ioss-tshirts.xml' > '%s/c.xml' "
                                "&& '%s' sign --key '%s/alice.key' --cert '%s/alice.pem' "
                                "--from alice --to %s --service ecommerce --action consignment "
                                "'%s/c.xml' > '%s/env.xml'",
                                serial, serial, getenv("CLEARWAY_SRC"), pki, getenv("CLEARWAY_CLI"),
                                pki, pki, to, pki, pki),
                     0);
    (void)snprintf(path, sizeof(path), "%s/env.xml", pki);
    f = fopen(path, "r");
    assert_non_null(f);
    xml = cw_malloc(1u << 18);
    assert_non_null(xml);
    n = fread(xml, 1, (1u << 18) - 1, f);
    xml[n] = '\0';
    fclose(f);
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       n, xml),
        0);
    assert_int_equal(cw_test_roundtrip(hub.port, b.data, b.len, &r), 0);
    status = r.status;
    cw_test_response_fini(&r);
    cw_buf_fini(&b);
    cw_free(xml);
    return status;
}

/* The number in the first cell after prefix in page; -1 when absent. */
static long cell_after(const char *page, const char *prefix)
{
    const char *p = strstr(page, prefix);

    return p != NULL ? strtol(p + strlen(prefix), NULL, 10) : -1;
}

/* Messages in state, from the page's table of states. */
static long state_count(const char *page, const char *state)
{
    char prefix[96];

    (void)snprintf(prefix, sizeof(prefix), "<tr><td>%s</td><td class=\"n\">", state);
    return cell_after(page, prefix);
}

/* The part of page from the heading title up to the next heading of any
 * level (NUL-terminated copy in out), for assertions about one table. */
static void section(const char *page, const char *title, char *out, size_t size)
{
    const char *p = strstr(page, title);
    const char *end;

    assert_non_null(p);
    end = strstr(p + strlen(title), "<h");
    if (end == NULL) {
        end = p + strlen(p);
    }
    assert_true((size_t)(end - p) < size);
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
}

/* ==== Fixture ==== */

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    int dead_port = cw_test_free_port();
    char node[1024];
    char extra[4096];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    (void)snprintf(pki, sizeof(pki), "/tmp/cw-dashboard-XXXXXX");
    if (src == NULL || dead_port < 0 || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' hub alice eu >/dev/null 2>&1", src, pki) != 0) {
        return -1;
    }
    (void)snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>",
                   pki, pki);
    /* customs-eu's route points at a port nobody listens on: its
     * deliveries are retried, far apart. */
    (void)snprintf(extra, sizeof(extra),
                   "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
                   "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"0\" tls=\"true\"\n"
                   "          cert=\"%s/eu.pem\" key=\"%s/eu.key\" client-ca=\"%s/ca.pem\"/>\n"
                   "  <rules path=\"%s/rules\"/>\n"
                   "  <partner id=\"alice\" certs=\"%s/alice.pem\" actions=\"*\" "
                   "destinations=\"*\"/>\n"
                   "  <partner id=\"customs-eu\" certs=\"%s/eu.pem\"/>\n"
                   "  <route to=\"customs-eu\" url=\"http://127.0.0.1:%d/v1/messages\"\n"
                   "         insecure-http=\"true\" base-delay-ms=\"60000\" "
                   "max-delay-ms=\"60000\"/>\n",
                   pki, pki, pki, src, pki, pki, dead_port);
    return cw_test_daemon_start_as(&hub, node, extra);
}

static int group_teardown(void **state)
{
    int status;

    (void)state;
    status = cw_test_daemon_stop(&hub, SIGTERM, 10000);
    cw_test_daemon_cleanup(&hub);
    (void)cw_test_sh("rm -rf '%s'", pki);
    return status == 0 ? 0 : -1;
}

/* ==== Tests ==== */

static void test_dashboard__html_page_with_security_headers(void **state)
{
    cw_test_response_t r;
    char value[256];

    (void)state;
    roundtrip(cw_test_daemon_listener_port(&hub, "admin"),
              "GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(cw_test_response_header(&r, "Content-Type", value, sizeof(value)), 0);
    assert_string_equal(value, "text/html; charset=utf-8");
    assert_int_equal(cw_test_response_header(&r, "Content-Security-Policy", value, sizeof(value)),
                     0);
    assert_string_equal(value, "default-src 'none'; style-src 'unsafe-inline'");
    assert_int_equal(cw_test_response_header(&r, "X-Content-Type-Options", value, sizeof(value)),
                     0);
    assert_string_equal(value, "nosniff");
    assert_int_equal(cw_test_response_header(&r, "Cache-Control", value, sizeof(value)), 0);
    assert_string_equal(value, "no-store");
    assert_true(strncmp(r.body, "<!DOCTYPE html>\n", 16) == 0);
    assert_non_null(strstr(r.body, "<meta http-equiv=\"refresh\" content=\"15\">"));
    assert_non_null(strstr(r.body, "</html>\n"));
    /* Self-contained: no script, nothing loaded from elsewhere. */
    assert_null(strstr(r.body, "<script"));
    assert_null(strstr(r.body, "src="));
    assert_null(strstr(r.body, "<link"));
    /* The node section. */
    assert_non_null(strstr(r.body, "<tr><th>id</th><td>hub</td></tr>"));
    assert_non_null(strstr(r.body, "<tr><th>ready</th><td class=\"ok\">ready</td></tr>"));
    assert_non_null(strstr(r.body, "<tr><th>store</th><td>SQLite</td></tr>"));
    assert_non_null(strstr(r.body, "<tr><th>uptime</th><td>0d 00:"));
    /* A fresh store: nothing yet, and the route is there, running. */
    assert_int_equal(state_count(r.body, "received"), 0);
    assert_int_equal(state_count(r.body, "queued"), 0);
    assert_non_null(strstr(r.body, "Delivery is <span class=\"ok\">running</span>"));
    assert_non_null(strstr(r.body, "<tr><td>customs-eu</td><td class=\"n\">"));
    cw_test_response_fini(&r);
}

static void test_dashboard__counts_follow_an_accepted_consignment(void **state)
{
    static char page[PAGE_MAX];
    static char table[1u << 16];
    const char *posts = "<tr><th>POST /v1/messages (signed envelopes)</th><td class=\"n\">";
    long received;
    long queued;
    long total;
    long accepted;

    (void)state;
    assert_int_equal(dashboard(page, sizeof(page)), 200);
    received = state_count(page, "received");
    queued = state_count(page, "queued");
    total = cell_after(page, "<tr><th>total</th><td class=\"n\">");
    accepted = cell_after(page, posts);
    assert_true(received >= 0 && queued >= 0 && total >= 0 && accepted >= 0);
    section(page, "Last 24 hours, by lane", table, sizeof(table));
    assert_non_null(strstr(table, "No consignment assessed."));

    /* One consignment for the hub itself (received), one to forward
     * (queued: its route's peer is down). */
    assert_int_equal(send_consignment("hub"), 200);
    assert_int_equal(send_consignment("customs-eu"), 200);

    assert_int_equal(dashboard(page, sizeof(page)), 200);
    assert_int_equal(state_count(page, "received"), received + 1);
    assert_int_equal(state_count(page, "queued"), queued + 1);
    assert_int_equal(cell_after(page, "<tr><th>total</th><td class=\"n\">"), total + 2);
    assert_int_equal(cell_after(page, posts), accepted + 2);
    /* The ledger: two green consignments to Germany, each EUR 41.80
     * declared, 6.00 duty and 9.84 VAT collected at sale (IOSS), nothing
     * due at the border; in both windows. */
    section(page, "Last 24 hours, by lane", table, sizeof(table));
    assert_non_null(strstr(table, "<tr><td>green</td><td>EUR</td><td class=\"n\">2</td>"
                                  "<td class=\"n\">83.60</td><td class=\"n\">12.00</td>"
                                  "<td class=\"n\">19.68</td><td class=\"n\">0.00</td></tr>"));
    section(page, "Last 30 days, by destination", table, sizeof(table));
    assert_non_null(strstr(table, "<tr><td>DE</td><td>EUR</td><td class=\"n\">2</td>"
                                  "<td class=\"n\">83.60</td><td class=\"n\">12.00</td>"));
}

/* Runs sql on the hub's store (the hub stopped). */
static void sql_at_hub(const char *sql)
{
    char path[600];
    sqlite3 *db = NULL;

    (void)snprintf(path, sizeof(path), "%s/clearway.db", hub.dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_true(sqlite3_changes(db) >= 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/*
 * Party ids and route names are restricted to a small alphabet by the
 * config, so the store is made to hold markup where the page shows a
 * string of its own: a fact's destination and currency.
 */
static void test_dashboard__store_strings_are_escaped(void **state)
{
    static char page[PAGE_MAX];

    (void)state;
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    sql_at_hub("UPDATE facts SET destination = '<b>&\"x''', currency = 'E<R'"
               " WHERE id = (SELECT max(id) FROM facts)");
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    assert_int_equal(dashboard(page, sizeof(page)), 200);
    assert_non_null(strstr(page, "<tr><td>&lt;b&gt;&amp;&quot;x&#39;</td><td>E&lt;R</td>"));
    assert_null(strstr(page, "<b>"));
    assert_null(strstr(page, "E<R"));
}

static void test_dashboard__public_listener_refuses(void **state)
{
    cw_test_response_t r;

    (void)state;
    roundtrip(hub.port, "GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "not-authorized"));
    assert_null(strstr(r.body, "<html"));
    cw_test_response_fini(&r);
}

static void test_dashboard__post_is_405(void **state)
{
    cw_test_response_t r;
    char allow[64];

    (void)state;
    roundtrip(cw_test_daemon_listener_port(&hub, "admin"),
              "POST /dashboard HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_int_equal(cw_test_response_header(&r, "Allow", allow, sizeof(allow)), 0);
    assert_string_equal(allow, "GET, HEAD");
    cw_test_response_fini(&r);
}

/* HEAD: the GET's status and headers, no body (the connection closes after
 * the head, so whatever came after it would be read here). */
static void test_dashboard__head_has_no_body(void **state)
{
    static const char req[] = "HEAD /dashboard HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static char got[1u << 16];
    size_t len = 0;
    const char *end;
    int fd;

    (void)state;
    fd = cw_test_connect(cw_test_daemon_listener_port(&hub, "admin"));
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, req, sizeof(req) - 1), 0);
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;

        assert_true(poll(&p, 1, 10000) == 1);
        n = read(fd, got + len, sizeof(got) - 1 - len);
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        assert_true(len < sizeof(got) - 1);
    }
    close(fd);
    got[len] = '\0';
    assert_true(strncmp(got, "HTTP/1.1 200 ", 13) == 0);
    assert_non_null(strstr(got, "Content-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strstr(got, "Cache-Control: no-store\r\n"));
    /* The length of the page a GET gets, and not one byte of it. */
    assert_non_null(strstr(got, "Content-Length: "));
    assert_true(strtol(strstr(got, "Content-Length: ") + 16, NULL, 10) > 1000);
    end = strstr(got, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(strlen(end), 4);
}

/*
 * A store that failed to flush its WAL (the fault set at start-up) answers
 * nothing but errors: the page is still served, says why the node is not
 * ready, and each store section says it could not be read, while the
 * figures kept in memory are still there. Last: it restarts the hub.
 */
static void test_dashboard__broken_store_still_renders(void **state)
{
    static char page[PAGE_MAX];
    static char table[1u << 16];

    (void)state;
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    setenv("CW_STORE_FAULT", "sync-fail", 1);
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    unsetenv("CW_STORE_FAULT");
    assert_int_equal(send_consignment("hub"), 503);
    assert_int_equal(dashboard(page, sizeof(page)), 200);
    assert_non_null(strstr(page, "<td class=\"bad\">not ready: store broken"));
    section(page, "Messages in the store, by state", table, sizeof(table));
    assert_non_null(strstr(table, "The store could not be read"));
    assert_int_equal(state_count(page, "received"), -1);
    section(page, "Last 30 days, by lane", table, sizeof(table));
    assert_non_null(strstr(table, "The store could not be read"));
    /* The 503 just answered is counted in memory (since the restart). */
    assert_non_null(strstr(page, "<tr><th>POST /v1/messages (signed envelopes)</th>"
                                 "<td class=\"n\">0</td><td class=\"n\">0</td>"
                                 "<td class=\"n\">0</td><td class=\"n\">1</td>"));
    assert_non_null(strstr(page, "<tr><td>customs-eu</td>"));
}

/* notAfter of the certificate at path, in seconds since the epoch, as
 * openssl and date(1) read it: the reference the node's own reading is
 * held to. */
static long long cert_end(const char *path)
{
    char cmd[1024];
    char out[64];

    (void)snprintf(cmd, sizeof(cmd),
                   "date -u -d \"$(openssl x509 -noout -enddate -in '%s' | cut -d= -f2)\" +%%s",
                   path);
    assert_int_equal(cw_test_sh_out(out, sizeof(out), cmd), 0);
    return strtoll(out, NULL, 10);
}

/* Each certificate the node signs or verifies with is in /metrics with its
 * notAfter, and on the page with its days left. */
static void test_dashboard__certificates_and_their_expiry(void **state)
{
    static char page[PAGE_MAX];
    static char table[PAGE_MAX];
    char path[512];
    char line[1024];
    long long end;
    long long now = (long long)time(NULL);
    long days;

    (void)state;
    assert_int_equal(cw_test_admin_get(&hub, "/metrics", page, sizeof(page)), 200);
    assert_non_null(strstr(page, "# TYPE clearway_certificate_not_after_seconds gauge\n"));
    (void)snprintf(path, sizeof(path), "%s/hub.pem", pki);
    end = cert_end(path);
    assert_true(end > now);
    (void)snprintf(
        line, sizeof(line),
        "clearway_certificate_not_after_seconds{party=\"hub\",role=\"node\",file=\"%s\"} "
        "%lld\n",
        path, end);
    assert_non_null(strstr(page, line));
    (void)snprintf(path, sizeof(path), "%s/eu.pem", pki);
    (void)snprintf(line, sizeof(line),
                   "clearway_certificate_not_after_seconds{party=\"customs-eu\",role=\"partner\","
                   "file=\"%s\"} %lld\n",
                   path, cert_end(path));
    assert_non_null(strstr(page, line));
    /* The TLS listener's certificate, as this node's. */
    (void)snprintf(line, sizeof(line),
                   "clearway_certificate_not_after_seconds{party=\"hub\",role=\"tls-server\","
                   "file=\"%s\"} %lld\n",
                   path, cert_end(path));
    assert_non_null(strstr(page, line));

    assert_int_equal(dashboard(page, sizeof(page)), 200);
    section(page, "<h2>Certificates</h2>", table, sizeof(table));
    days = (long)((end - now) / 86400);
    /* The hub's row: its days left, a day either way for the clock. */
    (void)snprintf(line, sizeof(line), "<tr><td>hub</td><td>node</td><td>");
    assert_non_null(strstr(table, line));
    {
        const char *row = strstr(table, line);
        const char *cell = strstr(row, "<td class=\"n\">");
        long shown;

        assert_non_null(cell);
        shown = strtol(cell + strlen("<td class=\"n\">"), NULL, 10);
        assert_true(shown >= days - 1 && shown <= days + 1);
    }
    assert_non_null(strstr(table, "<tr><td>alice</td><td>partner</td>"));
    assert_non_null(strstr(table, "<tr><td>customs-eu</td><td>partner</td>"));
    assert_non_null(strstr(table, "<tr><td>hub</td><td>tls-server</td>"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard__html_page_with_security_headers),
        cmocka_unit_test(test_dashboard__counts_follow_an_accepted_consignment),
        cmocka_unit_test(test_dashboard__store_strings_are_escaped),
        cmocka_unit_test(test_dashboard__public_listener_refuses),
        cmocka_unit_test(test_dashboard__post_is_405),
        cmocka_unit_test(test_dashboard__head_has_no_body),
        cmocka_unit_test(test_dashboard__certificates_and_their_expiry),
        cmocka_unit_test(test_dashboard__broken_store_still_renders),
    };

    return cmocka_run_group_tests_name("integration_dashboard", tests, group_setup, group_teardown);
}
