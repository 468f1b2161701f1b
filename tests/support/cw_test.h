/*
 * Test support: start a real clearwayd on an ephemeral loopback port, speak
 * raw bytes to it, and read responses. Used by the integration tests.
 */
#ifndef CW_TEST_H
#define CW_TEST_H

#include <stddef.h>
#include <sys/types.h>

typedef struct cw_test_daemon {
    pid_t pid;
    int port;         /* the public listener's bound port */
    int admin_port;   /* the admin listener's port, or 0 */
    char dir[256];    /* temporary folder with the config and the log */
    char config[512]; /* config file path */
    char log[512];    /* stderr of the daemon */
    char node[1024];  /* the <node> element; "" for a plain test node */
    char extra[8192]; /* the extra XML of the config, kept for restarts */
    int workers;      /* <workers> (0: one per core) */
} cw_test_daemon_t;

/*
 * Writes a config for a node with one public listener on 127.0.0.1 port 0
 * (plus extra XML inserted inside <clearway>, e.g. a <limits> block; may be
 * NULL) and starts $CLEARWAYD with it. Waits until the daemon logs that it
 * listens. Returns 0 or -1 (and prints why).
 */
int cw_test_daemon_start(cw_test_daemon_t *d, const char *extra_xml);

/* Same, with node_xml (a whole <node .../> element) as the node's identity. */
int cw_test_daemon_start_as(cw_test_daemon_t *d, const char *node_xml, const char *extra_xml);
/* Same, with <workers>workers</workers> (0: one per core). */
int cw_test_daemon_start_workers(cw_test_daemon_t *d,
                                 const char *node_xml,
                                 const char *extra_xml,
                                 int workers);

/*
 * Starts the daemon again after a stop, with the same folder, config (the
 * listener keeps its port) and store; the log is appended to. 0 or -1.
 */
int cw_test_daemon_restart(cw_test_daemon_t *d);

/* The port the daemon's listener name bound at its latest start, or -1. */
int cw_test_daemon_listener_port(const cw_test_daemon_t *d, const char *name);

/* Rewrites the daemon's config file with new extra XML (for SIGHUP tests). */
int cw_test_daemon_write_config(cw_test_daemon_t *d, const char *extra_xml, int valid);

/* Sends sig and waits up to timeout_ms for exit. Returns the exit status
 * (0..255), 128+signal if killed, or -1 on timeout (the daemon is then
 * killed). Removes nothing: see cw_test_daemon_cleanup. */
int cw_test_daemon_stop(cw_test_daemon_t *d, int sig, int timeout_ms);

/* Removes the temporary folder. */
void cw_test_daemon_cleanup(cw_test_daemon_t *d);

/* Counts lines of the daemon's log containing needle. */
int cw_test_log_count(const cw_test_daemon_t *d, const char *needle);

/* Opens a TCP connection to 127.0.0.1:port with a 10 s receive timeout. */
int cw_test_connect(int port);

/* Writes all of data; returns 0 or -1. */
int cw_test_send(int fd, const void *data, size_t len);

typedef struct cw_test_response {
    int status;
    char headers[8192]; /* raw header block, NUL-terminated */
    char *body;         /* heap, NUL-terminated; free with cw_test_response_fini */
    size_t body_len;
    int closed; /* the server closed the connection after it */
} cw_test_response_t;

/*
 * Reads one response (Content-Length framed) from fd within timeout_ms.
 * Returns 0, or -1 on timeout, close before a full response, or garbage.
 */
int cw_test_read_response(int fd, cw_test_response_t *r, int timeout_ms);
void cw_test_response_fini(cw_test_response_t *r);

/* Value of header name in r (case-insensitive) copied into out, or -1. */
int cw_test_response_header(const cw_test_response_t *r, const char *name, char *out, size_t size);

/* Connects, sends raw, reads one response, closes. Returns 0 or -1. */
int cw_test_roundtrip(int port, const char *raw, size_t len, cw_test_response_t *r);

/* Waits until the peer closes fd (read returns 0) within timeout_ms: 0, else -1. */
int cw_test_wait_closed(int fd, int timeout_ms);

/* Runs a shell command (printf-style); returns its exit status, or -1. */
int cw_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs cmd and keeps the first line of its output in out; returns its exit
 * status, or -1. */
int cw_test_sh_out(char *out, size_t size, const char *cmd);

/* Raises this process's open-file limit to at least n (tests with many
 * connections). */
void cw_test_nofile_raise(unsigned n);

/* Monotonic milliseconds. */
long long cw_test_now_ms(void);

/* Sleeps ms milliseconds. */
void cw_test_sleep_ms(int ms);

/* A loopback port that was free a moment ago (for a listener that must keep
 * its port across restarts, or that a route names before it starts), or -1. */
int cw_test_free_port(void);

/* GET target on d's listener named "admin"; the body (NUL-terminated, cut
 * to size) goes to out. Returns the HTTP status, or -1. */
int cw_test_admin_get(const cw_test_daemon_t *d, const char *target, char *out, size_t size);

#endif /* CW_TEST_H */
