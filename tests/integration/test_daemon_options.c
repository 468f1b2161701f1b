/*
 * clearwayd's command line: --check, --version, --help, exit codes, and the
 * connections-max limit of a running daemon.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "util.h"

/* Runs clearwayd with args (a shell fragment); captures stdout+stderr. */
static int run(const char *args, char *out, size_t size)
{
    char cmd[2048];
    FILE *p;
    size_t n;
    int status;

    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", getenv("CLEARWAYD"), args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_daemon_options__version_and_help(void **state)
{
    char out[4096];

    (void)state;
    assert_int_equal(run("--version", out, sizeof(out)), 0);
    assert_true(strncmp(out, "clearwayd ", 10) == 0);
    assert_int_equal(run("--help", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "--config FILE"));
    assert_int_equal(run("--frobnicate", out, sizeof(out)), 64);
    assert_int_equal(run("", out, sizeof(out)), 64);
}

static void test_daemon_options__check_accepts_the_example(void **state)
{
    char dir[] = "/tmp/cw-opt-XXXXXX";
    const char *src = getenv("CLEARWAY_SRC");
    char args[1024];
    char out[4096];

    (void)state;
    /* As the README says: make the development keys next to the example,
     * whose rules path is ../rules (the repository's rules folder). */
    assert_non_null(mkdtemp(dir));
    assert_int_equal(
        cw_test_sh("mkdir '%s/examples' && cp '%s/examples/clearway.xml' '%s/examples/' "
                   "&& cp -r '%s/rules' '%s/rules' && '%s/certs/make-dev-pki' "
                   "'%s/examples/pki' customs-eu platform-a customs-cn >/dev/null 2>&1",
                   dir, src, dir, src, dir, src, dir),
        0);
    snprintf(args, sizeof(args), "--config '%s/examples/clearway.xml' --check", dir);
    assert_int_equal(run(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, ": ok"));
    /* Without the keys the same file is refused, naming the missing file. */
    assert_int_equal(cw_test_sh("rm -rf '%s/examples/pki'", dir), 0);
    assert_int_equal(run(args, out, sizeof(out)), 78);
    assert_non_null(strstr(out, "customs-eu.key"));
    /* And without its rules too. */
    assert_int_equal(cw_test_sh("'%s/certs/make-dev-pki' '%s/examples/pki' customs-eu platform-a "
                                "customs-cn >/dev/null 2>&1 && rm -rf '%s/rules'",
                                src, dir, dir),
                     0);
    assert_int_equal(run(args, out, sizeof(out)), 78);
    assert_int_equal(cw_test_sh("rm -rf '%s'", dir), 0);
}

static void test_daemon_options__check_reports_every_error_with_lines(void **state)
{
    char path[] = "/tmp/cw-opt-XXXXXX";
    char args[1024];
    char out[8192];
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "<clearway xmlns=\"urn:clearway:config:1\">\n"
                     "  <node id=\"n\"/>\n"
                     "  <listen name=\"a\" address=\"127.0.0.1\" port=\"8080\"/>\n"
                     "  <limits>\n"
                     "    <header-bytes-max>99</header-bytes-max>\n"
                     "    <frobs>1</frobs>\n"
                     "  </limits>\n"
                     "</clearway>\n");
    snprintf(args, sizeof(args), "--config '%s' --check", path);
    assert_int_equal(run(args, out, sizeof(out)), 78);
    /* The unknown element is reported with its line. */
    if (strstr(out, ":6:") == NULL) {
        fail_msg("no line 6 error in: %s", out);
    }
    unlink(path);
}

/* Adapter names are checked against the adapters clearwayd has, before
 * anything is built: a misspelt name, or an adapter on a side it does not
 * have, is a FILE:LINE error of --check (exit 78), not a start-up failure. */
static void test_daemon_options__check_reports_adapter_names_with_lines(void **state)
{
    char dir[] = "/tmp/cw-opt-XXXXXX";
    const char *src = getenv("CLEARWAY_SRC");
    char path[64];
    char want[256];
    char args[1024];
    char out[8192];

    (void)state;
    /* Real certificates, so that the only thing wrong is the adapters. */
    assert_non_null(mkdtemp(dir));
    assert_int_equal(cw_test_sh("'%s/certs/make-dev-pki' '%s/pki' carrier customs-cn >/dev/null "
                                "2>&1",
                                src, dir),
                     0);
    snprintf(path, sizeof(path), "%s/clearway.xml", dir);
    snprintf(args, sizeof(args), "--config '%s' --check", path);
    write_file(path, "<clearway xmlns=\"urn:clearway:config:1\">\n"
                     "  <node id=\"n\"/>\n"
                     "  <listen name=\"a\" address=\"127.0.0.1\" port=\"0\"/>\n"
                     "  <partner id=\"carrier\" certs=\"pki/carrier.pem\"\n"
                     "           adapter=\"csv-manifest\" adapter-to=\"customs-cn\"/>\n"
                     "  <partner id=\"customs-cn\" certs=\"pki/customs-cn.pem\"/>\n"
                     "  <route to=\"customs-cn\" url=\"https://127.0.0.1:9/\" adapter=\"ceb621\"\n"
                     "         adapter-sign=\"ceb\"/>\n"
                     "</clearway>\n");
    if (run(args, out, sizeof(out)) != 0) {
        fail_msg("a valid file is refused: %s", out);
    }
    /* A misspelt name. libxml2 numbers an element by the line its start
     * tag ends on. */
    write_file(path, "<clearway xmlns=\"urn:clearway:config:1\">\n"
                     "  <node id=\"n\"/>\n"
                     "  <listen name=\"a\" address=\"127.0.0.1\" port=\"0\"/>\n"
                     "  <partner id=\"carrier\" certs=\"pki/carrier.pem\"\n"
                     "           adapter=\"csv-manifst\" adapter-to=\"customs-cn\"/>\n"
                     "  <partner id=\"customs-cn\" certs=\"pki/customs-cn.pem\"/>\n"
                     "</clearway>\n");
    assert_int_equal(run(args, out, sizeof(out)), 78);
    snprintf(want, sizeof(want),
             "%s:5: partner 'carrier': no adapter called 'csv-manifst' (clearway adapter list "
             "names them)\n",
             path);
    if (strstr(out, want) == NULL) {
        fail_msg("no \"%s\" in: %s", want, out);
    }
    /* An adapter without an output side on a route: every delivery to it
     * would be dead-lettered. */
    write_file(path, "<clearway xmlns=\"urn:clearway:config:1\">\n"
                     "  <node id=\"n\"/>\n"
                     "  <listen name=\"a\" address=\"127.0.0.1\" port=\"0\"/>\n"
                     "  <partner id=\"customs-cn\" certs=\"pki/customs-cn.pem\"/>\n"
                     "  <route to=\"customs-cn\" url=\"https://127.0.0.1:9/\"\n"
                     "         adapter=\"csv-manifest\"/>\n"
                     "</clearway>\n");
    assert_int_equal(run(args, out, sizeof(out)), 78);
    snprintf(want, sizeof(want),
             "%s:6: route 'customs-cn': adapter csv-manifest cannot write outgoing messages\n",
             path);
    if (strstr(out, want) == NULL) {
        fail_msg("no \"%s\" in: %s", want, out);
    }
    assert_int_equal(cw_test_sh("rm -rf '%s'", dir), 0);
}

static void test_daemon_options__missing_file_is_a_config_error(void **state)
{
    char out[4096];

    (void)state;
    assert_int_equal(run("--config /nonexistent/clearway.xml --check", out, sizeof(out)), 78);
    assert_non_null(strstr(out, "/nonexistent/clearway.xml"));
}

static void test_daemon_options__port_in_use_fails_to_start(void **state)
{
    cw_test_daemon_t d;
    char dir[] = "/tmp/cw-opt-XXXXXX";
    char path[64];
    char xml[512];
    char args[1024];
    char out[8192];

    (void)state;
    assert_int_equal(cw_test_daemon_start(&d, NULL), 0);
    /* A directory of its own: the store defaults to the config's directory. */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/clearway.xml", dir);
    snprintf(xml, sizeof(xml),
             "<clearway xmlns=\"urn:clearway:config:1\"><node id=\"n\"/>"
             "<listen name=\"a\" address=\"127.0.0.1\" port=\"%d\"/></clearway>\n",
             d.port);
    write_file(path, xml);
    snprintf(args, sizeof(args), "--config '%s'", path);
    assert_int_equal(run(args, out, sizeof(out)), 70);
    assert_non_null(strstr(out, "address already in use"));
    assert_int_equal(cw_test_sh("rm -rf '%s'", dir), 0);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 5000), 0);
    cw_test_daemon_cleanup(&d);
}

/* A store that cannot be opened (here a file that is not a Clearway store)
 * stops start-up with exit status 70 and the reason, before any listener
 * or signal handler exists: not an abort on the way out. */
static void test_daemon_options__store_not_ours_fails_to_start(void **state)
{
    char dir[] = "/tmp/cw-opt-XXXXXX";
    char path[64];
    char args[1024];
    char out[8192];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/clearway.db", dir);
    write_file(path, "not a database, but somebody's notes: keep them\n");
    snprintf(path, sizeof(path), "%s/clearway.xml", dir);
    write_file(path, "<clearway xmlns=\"urn:clearway:config:1\"><node id=\"n\"/>"
                     "<listen name=\"a\" address=\"127.0.0.1\" port=\"0\"/></clearway>\n");
    snprintf(args, sizeof(args), "--config '%s'", path);
    assert_int_equal(run(args, out, sizeof(out)), 70);
    assert_non_null(strstr(out, "not a Clearway store"));
    assert_null(strstr(out, "Assertion"));
    /* The file is left as it was. */
    assert_int_equal(cw_test_sh("grep -q 'keep them' '%s/clearway.db' && rm -rf '%s'", dir, dir),
                     0);
}

/* The first listener binds and says so; the second cannot: the daemon stops
 * without logging that it started, and the harness reports the failure. */
static void test_daemon_options__second_listener_in_use_is_not_started(void **state)
{
    cw_test_daemon_t d;
    cw_test_daemon_t e;
    char extra[256];

    (void)state;
    assert_int_equal(cw_test_daemon_start(&d, NULL), 0);
    assert_int_equal(cw_test_log_count(&d, "\"event\":\"started\""), 1);
    snprintf(extra, sizeof(extra), "  <listen name=\"taken\" address=\"127.0.0.1\" port=\"%d\"/>\n",
             d.port);
    assert_int_equal(cw_test_daemon_start(&e, extra), -1);
    assert_int_equal(cw_test_log_count(&e, "\"event\":\"listening\""), 1);
    assert_int_equal(cw_test_log_count(&e, "address already in use"), 1);
    assert_int_equal(cw_test_log_count(&e, "\"event\":\"started\""), 0);
    cw_test_daemon_cleanup(&e);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 5000), 0);
    cw_test_daemon_cleanup(&d);
}

static void test_daemon_options__connections_max_refuses_extra(void **state)
{
    cw_test_daemon_t d;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    int a;
    int b;
    int c;

    (void)state;
    assert_int_equal(
        cw_test_daemon_start(&d, "<limits><connections-max>2</connections-max></limits>"), 0);
    a = cw_test_connect(d.port);
    b = cw_test_connect(d.port);
    assert_true(a >= 0 && b >= 0);
    /* Make sure both are accepted before the third arrives. */
    assert_int_equal(cw_test_send(a, req, strlen(req)), 0);
    assert_int_equal(cw_test_read_response(a, &r, 5000), 0);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_send(b, req, strlen(req)), 0);
    assert_int_equal(cw_test_read_response(b, &r, 5000), 0);
    cw_test_response_fini(&r);
    c = cw_test_connect(d.port);
    assert_true(c >= 0);                               /* the kernel completes the handshake... */
    assert_int_equal(cw_test_wait_closed(c, 3000), 0); /* ...and clearwayd closes it */
    close(c);
    close(a);
    close(b);
    assert_true(cw_test_log_count(&d, "connections-max (2) reached") >= 1);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 5000), 0);
    cw_test_daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_options__version_and_help),
        cmocka_unit_test(test_daemon_options__check_accepts_the_example),
        cmocka_unit_test(test_daemon_options__check_reports_every_error_with_lines),
        cmocka_unit_test(test_daemon_options__check_reports_adapter_names_with_lines),
        cmocka_unit_test(test_daemon_options__missing_file_is_a_config_error),
        cmocka_unit_test(test_daemon_options__port_in_use_fails_to_start),
        cmocka_unit_test(test_daemon_options__store_not_ours_fails_to_start),
        cmocka_unit_test(test_daemon_options__second_listener_in_use_is_not_started),
        cmocka_unit_test(test_daemon_options__connections_max_refuses_extra),
    };

    return cmocka_run_group_tests_name("integration_daemon_options", tests, NULL, NULL);
}
