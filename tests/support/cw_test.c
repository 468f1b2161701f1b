/*
 * Test support for integration tests: real daemons on loopback, raw sockets.
 * Test code may use libc directly; it still goes through cw_ allocation so
 * that the lint rule has no exceptions.
 */
#include "cw_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

long long cw_test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cw_test_daemon_write_config(cw_test_daemon_t *d, const char *extra_xml, int valid)
{
    FILE *f = fopen(d->config, "w");

    if (f == NULL) {
        perror(d->config);
        return -1;
    }
    fprintf(f,
            "<?xml version=\"1.0\"?>\n"
            "<clearway xmlns=\"urn:clearway:config:1\">\n"
            "  %s\n"
            "  <log level=\"info\"/>\n"
            "  <workers>%d</workers>\n"
            "  <listen name=\"public\" address=\"127.0.0.1\" port=\"%d\" kind=\"public\"/>\n"
            "%s\n%s"
            "</clearway>\n",
            d->node[0] != '\0' ? d->node : "<node id=\"test-node\"/>", d->workers, d->port,
            extra_xml != NULL ? extra_xml : "", valid ? "" : "  <bogus/>\n");
    fclose(f);
    return 0;
}

/*
 * The first listener's port, once the daemon has logged that it started,
 * that is once every listener is bound; -1 before. Waiting for the first
 * "listening" line only would take a daemon that then fails to bind its
 * second listener for a running one.
 */
static int read_port_from(const char *log, long offset)
{
    FILE *f = fopen(log, "r");
    char line[4096];
    int port = -1;
    int started = 0;

    if (f == NULL) {
        return -1;
    }
    if (offset > 0) {
        (void)fseek(f, offset, SEEK_SET);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p;

        if (strstr(line, "\"event\":\"started\"") != NULL) {
            started = 1;
            break;
        }
        if (port > 0 || strstr(line, "\"event\":\"listening\"") == NULL) {
            continue;
        }
        p = strstr(line, "\"port\":");
        if (p != NULL) {
            port = (int)strtol(p + 7, NULL, 10);
        }
    }
    fclose(f);
    return started ? port : -1;
}

int cw_test_daemon_start(cw_test_daemon_t *d, const char *extra_xml)
{
    return cw_test_daemon_start_as(d, NULL, extra_xml);
}

/* Forks and execs the daemon on d's config and waits until it listens. */
static int spawn(cw_test_daemon_t *d, int append_log)
{
    const char *bin = getenv("CLEARWAYD");
    long long deadline;
    long offset = 0;
    int fd;

    if (bin == NULL) {
        fprintf(stderr, "CLEARWAYD is not set\n");
        return -1;
    }
    if (append_log) {
        FILE *f = fopen(d->log, "r");

        if (f != NULL) {
            (void)fseek(f, 0, SEEK_END);
            offset = ftell(f);
            fclose(f);
        }
    }
    d->pid = fork();
    if (d->pid < 0) {
        perror("fork");
        return -1;
    }
    if (d->pid == 0) {
        fd = open(d->log, O_WRONLY | O_CREAT | (append_log ? O_APPEND : O_TRUNC), 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execl(bin, bin, "--config", d->config, (char *)NULL);
        _exit(127);
    }
    deadline = cw_test_now_ms() + 20000;
    while (cw_test_now_ms() < deadline) {
        int status;
        int port = read_port_from(d->log, offset);

        if (port > 0) {
            d->port = port;
            return 0;
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            fprintf(stderr, "clearwayd exited early (status %d); log %s\n", status, d->log);
            d->pid = 0;
            return -1;
        }
        cw_test_sleep_ms(20);
    }
    fprintf(stderr, "clearwayd did not start listening; log %s\n", d->log);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    return -1;
}

int cw_test_daemon_restart(cw_test_daemon_t *d)
{
    if (d->pid > 0 || cw_test_daemon_write_config(d, d->extra, 1) < 0) {
        return -1;
    }
    return spawn(d, 1);
}

int cw_test_daemon_listener_port(const cw_test_daemon_t *d, const char *name)
{
    FILE *f = fopen(d->log, "r");
    char needle[128];
    char line[4096];
    int port = -1;

    if (f == NULL) {
        return -1;
    }
    snprintf(needle, sizeof(needle), "\"listener\":\"%s\"", name);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p;

        if (strstr(line, "\"event\":\"listening\"") == NULL || strstr(line, needle) == NULL) {
            continue;
        }
        p = strstr(line, "\"port\":");
        if (p != NULL) {
            port = (int)strtol(p + 7, NULL, 10); /* the last start wins */
        }
    }
    fclose(f);
    return port;
}

int cw_test_daemon_start_as(cw_test_daemon_t *d, const char *node_xml, const char *extra_xml)
{
    return cw_test_daemon_start_workers(d, node_xml, extra_xml, 0);
}

int cw_test_daemon_start_workers(cw_test_daemon_t *d,
                                 const char *node_xml,
                                 const char *extra_xml,
                                 int workers)
{
    memset(d, 0, sizeof(*d));
    d->workers = workers;
    if (node_xml != NULL) {
        cw_strlcpy(d->node, node_xml, sizeof(d->node));
    }
    if (extra_xml != NULL) {
        cw_strlcpy(d->extra, extra_xml, sizeof(d->extra));
    }
    snprintf(d->dir, sizeof(d->dir), "/tmp/cw-test-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(d->config, sizeof(d->config), "%s/clearway.xml", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/clearwayd.log", d->dir);
    /* The public listener's port is chosen here, outside the ephemeral
     * range, and kept by later rewrites of the config, so that a reload or
     * a restart binds the same one and no other test has taken it in the
     * meantime (cw_test_free_port). Port 0 if none could be found. */
    d->port = cw_test_free_port();
    if (d->port < 0) {
        d->port = 0;
    }
    if (cw_test_daemon_write_config(d, extra_xml, 1) < 0) {
        return -1;
    }
    return spawn(d, 0);
}

int cw_test_daemon_stop(cw_test_daemon_t *d, int sig, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;
    int status;

    if (d->pid <= 0) {
        return -1;
    }
    kill(d->pid, sig);
    while (cw_test_now_ms() < deadline) {
        pid_t r = waitpid(d->pid, &status, WNOHANG);

        if (r == d->pid) {
            d->pid = 0;
            if (WIFEXITED(status)) {
                return WEXITSTATUS(status);
            }
            return 128 + WTERMSIG(status);
        }
        cw_test_sleep_ms(10);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    return -1;
}

void cw_test_daemon_cleanup(cw_test_daemon_t *d)
{
    char cmd[600];

    if (d->pid > 0) {
        (void)cw_test_daemon_stop(d, SIGKILL, 5000);
    }
    if (d->dir[0] != '\0' && getenv("CW_TEST_KEEP") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", d->dir);
        }
        d->dir[0] = '\0';
    }
}

int cw_test_log_count(const cw_test_daemon_t *d, const char *needle)
{
    FILE *f = fopen(d->log, "r");
    char line[8192];
    int n = 0;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

int cw_test_connect(int port)
{
    struct sockaddr_in sin;
    struct timeval tv = { 10, 0 };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int cw_test_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Reads more bytes into buf (at most cap - *len - 1) within the deadline.
 * Returns bytes read, 0 on close, -1 on timeout or error.
 */
static ssize_t read_some(int fd, char *buf, size_t *len, size_t cap, long long deadline)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    long long left = deadline - cw_test_now_ms();
    ssize_t n;

    if (left <= 0 || *len + 1 >= cap) {
        return -1;
    }
    if (poll(&pfd, 1, (int)left) <= 0) {
        return -1;
    }
    n = recv(fd, buf + *len, cap - *len - 1, 0);
    if (n > 0) {
        *len += (size_t)n;
        buf[*len] = '\0';
    }
    return n;
}

/* Bytes read past the end of the previous response on each fd. */
#define STASH_FDS 4096
static char *stash[STASH_FDS];
static size_t stash_len[STASH_FDS];

int cw_test_read_response(int fd, cw_test_response_t *r, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;
    size_t cap = 1u << 20;
    char *buf = cw_malloc(cap);
    size_t len = 0;
    char *end;
    char *p;
    size_t head_len;
    size_t body_len = 0;
    char cl[32];
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (buf == NULL) {
        return -1;
    }
    buf[0] = '\0';
    if (fd >= 0 && fd < STASH_FDS && stash[fd] != NULL) {
        memcpy(buf, stash[fd], stash_len[fd]);
        len = stash_len[fd];
        buf[len] = '\0';
        cw_free_null(stash[fd]);
        stash_len[fd] = 0;
    }
    for (;;) {
        end = len > 0 ? strstr(buf, "\r\n\r\n") : NULL;
        if (end != NULL) {
            /* Skip interim 1xx responses. */
            if (strncmp(buf, "HTTP/1.1 1", 10) == 0) {
                size_t skip = (size_t)(end + 4 - buf);

                memmove(buf, buf + skip, len - skip);
                len -= skip;
                buf[len] = '\0';
                continue;
            }
            break;
        }
        if (read_some(fd, buf, &len, cap, deadline) <= 0) {
            goto out;
        }
    }
    head_len = (size_t)(end - buf) + 4;
    if (head_len >= sizeof(r->headers)) {
        goto out;
    }
    memcpy(r->headers, buf, head_len);
    r->headers[head_len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        goto out;
    }
    if (cw_test_response_header(r, "content-length", cl, sizeof(cl)) == 0) {
        body_len = (size_t)strtoul(cl, NULL, 10);
    }
    while (len < head_len + body_len) {
        if (read_some(fd, buf, &len, cap, deadline) <= 0) {
            goto out;
        }
    }
    r->body = cw_malloc(body_len + 1);
    if (r->body == NULL) {
        goto out;
    }
    memcpy(r->body, buf + head_len, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
    p = buf + head_len + body_len;
    if (len > head_len + body_len && fd >= 0 && fd < STASH_FDS) {
        stash_len[fd] = len - head_len - body_len;
        stash[fd] = cw_malloc(stash_len[fd] + 1);
        if (stash[fd] != NULL) {
            memcpy(stash[fd], p, stash_len[fd]);
        }
    }
    {
        char conn[64];

        r->closed = cw_test_response_header(r, "connection", conn, sizeof(conn)) == 0
                    && strcmp(conn, "close") == 0;
    }
    rc = 0;
out:
    cw_free(buf);
    return rc;
}

void cw_test_response_fini(cw_test_response_t *r)
{
    cw_free_null(r->body);
}

int cw_test_response_header(const cw_test_response_t *r, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = strstr(r->headers, "\r\n");

    while (p != NULL && p[2] != '\r') {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");

        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0
            && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            size_t n;

            while (*v == ' ') {
                v++;
            }
            n = (size_t)(eol - v);
            if (n >= size) {
                n = size - 1;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        p = eol;
    }
    return -1;
}

int cw_test_roundtrip(int port, const char *raw, size_t len, cw_test_response_t *r)
{
    int fd = cw_test_connect(port);
    int rc;

    if (fd < 0) {
        return -1;
    }
    rc = cw_test_send(fd, raw, len);
    if (rc == 0) {
        rc = cw_test_read_response(fd, r, 10000);
    }
    if (fd < STASH_FDS) {
        cw_free_null(stash[fd]);
        stash_len[fd] = 0;
    }
    close(fd);
    return rc;
}

int cw_test_wait_closed(int fd, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;
    char buf[4096];

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long long left = deadline - cw_test_now_ms();
        ssize_t n;

        if (left <= 0) {
            return -1;
        }
        if (poll(&pfd, 1, (int)left) <= 0) {
            return -1;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return 0; /* reset counts as closed */
        }
    }
}

int cw_test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int status;

    va_start(ap, fmt);
    (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cw_test_sh_out(char *out, size_t size, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    int status;

    out[0] = '\0';
    if (p == NULL) {
        return -1;
    }
    if (fgets(out, (int)size, p) == NULL) {
        out[0] = '\0';
    }
    out[strcspn(out, "\n")] = '\0';
    while (fgetc(p) != EOF) {
    }
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void cw_test_nofile_raise(unsigned n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n) {
        rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

void cw_test_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/*
 * The kernel's ephemeral range, from which bind(port 0) and connect() take
 * their ports; Linux's default (32768-60999) when unreadable.
 */
static void ephemeral_range(int *low, int *high)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    char line[64];

    *low = 32768;
    *high = 60999;
    if (f != NULL) {
        if (fgets(line, sizeof(line), f) != NULL) {
            char *end;
            char *end2;
            long lo = strtol(line, &end, 10);
            long hi = strtol(end, &end2, 10);

            if (end != line && end2 != end && lo > 0 && lo <= hi && hi <= 65535) {
                *low = (int)lo;
                *high = (int)hi;
            }
        }
        fclose(f);
    }
}

static int port_is_free(int port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int got = -1;

    if (fd < 0) {
        return -1;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0
        && getsockname(fd, (struct sockaddr *)&sin, &len) == 0) {
        got = ntohs(sin.sin_port);
    }
    close(fd);
    return got;
}

/*
 * A port for a listener that must be known before its daemon starts (a
 * peer's route names it). It is taken outside the ephemeral range: a port
 * from bind(0) is free only until the kernel hands it to the next socket
 * bound to port 0 or connecting out, which, with the suite's tests running
 * side by side, happens within milliseconds. Below the range from 20000
 * (the demo, run by demo_e2e_check, takes 19000-19999) or above it. Only
 * another caller of this function can still take the same one; the daemon
 * then fails to start and says so. On a machine whose ephemeral range
 * leaves no room, bind(0) it is, with its race.
 */
int cw_test_free_port(void)
{
    enum { BASE = 20000, ROOM = 100 };
    static unsigned seed;
    int low;
    int high;
    int below;
    int above;
    int i;

    ephemeral_range(&low, &high);
    below = low - BASE >= ROOM ? low - BASE : 0;
    above = 65535 - high >= ROOM ? 65535 - high : 0;
    if (below + above == 0) {
        return port_is_free(0);
    }
    if (seed == 0) {
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)cw_test_now_ms();
    }
    for (i = 0; i < 200; i++) {
        int k;
        int port;

        seed = seed * 1103515245u + 12345u;
        k = (int)((seed >> 8) % (unsigned)(below + above));
        port = k < below ? BASE + k : high + 1 + (k - below);
        if (port_is_free(port) == port) {
            return port;
        }
    }
    return -1;
}

int cw_test_admin_get(const cw_test_daemon_t *d, const char *target, char *out, size_t size)
{
    char req[1024];
    cw_test_response_t r;
    int status;

    (void)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    out[0] = '\0';
    if (cw_test_roundtrip(cw_test_daemon_listener_port(d, "admin"), req, strlen(req), &r) < 0) {
        return -1;
    }
    status = r.status;
    cw_strlcpy(out, r.body != NULL ? r.body : "", size);
    cw_test_response_fini(&r);
    return status;
}
