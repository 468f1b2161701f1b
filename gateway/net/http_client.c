/*
 * The outbound HTTP(S) client: request setup, results, error mapping and
 * the client's lifecycle. The libuv side of libcurl is in curl_uv.c.
 */
#include <string.h>

#include "client_internal.h"
#include "net.h"

/* ==== Library ==== */

int cw_http_client_lib_init(void)
{
    const curl_version_info_data *info;
    CURLcode code;

    code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) {
        CW_LOG_ERROR("net", "curl_global_init: %s", curl_easy_strerror(code));
        return code == CURLE_OUT_OF_MEMORY ? CW_ENOMEM : CW_EINTERNAL;
    }
    info = curl_version_info(CURLVERSION_NOW);
    if (info == NULL || (info->features & CURL_VERSION_SSL) == 0) {
        CW_LOG_ERROR("net", "libcurl has no TLS support");
        curl_global_cleanup();
        return CW_ECONFIG;
    }
    if ((info->features & CURL_VERSION_ASYNCHDNS) == 0) {
        /* Rule 37: a synchronous resolver runs getaddrinfo on the loop thread. */
        CW_LOG_WARN("net", "libcurl resolves host names synchronously; DNS will block the loop");
    }
    return 0;
}

void cw_http_client_lib_fini(void)
{
    curl_global_cleanup();
}

/* ==== Errors ==== */

int cw_err_from_curl(CURLcode code)
{
    /* A switch on int with a default, not on the enum: CURLcode grows with
     * every libcurl release and unknown codes must still map. */
    switch ((int)code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return CW_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return CW_ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return CW_EINVAL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return CW_EPERM;
    case CURLE_FILESIZE_EXCEEDED:
        return CW_E2BIG;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return CW_ECRYPTO;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
        return CW_EPROTO;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
    default:
        return CW_EIO;
    }
}

/* ==== Transfers ==== */

static void xfer_link(cw_http_client_t *client, cw_http_xfer_t *xfer)
{
    xfer->prev = NULL;
    xfer->next = client->xfers;
    if (client->xfers != NULL) {
        client->xfers->prev = xfer;
    }
    client->xfers = xfer;
    client->xfer_count++;
}

static void xfer_unlink(cw_http_xfer_t *xfer)
{
    cw_http_client_t *client = xfer->client;

    if (xfer->prev != NULL) {
        xfer->prev->next = xfer->next;
    } else if (client->xfers == xfer) {
        client->xfers = xfer->next;
    }
    if (xfer->next != NULL) {
        xfer->next->prev = xfer->prev;
    }
    xfer->prev = NULL;
    xfer->next = NULL;
    client->xfer_count--;
}

static void xfer_free(cw_http_xfer_t *xfer)
{
    if (xfer == NULL) {
        return;
    }
    if (xfer->easy != NULL) {
        curl_easy_cleanup(xfer->easy);
    }
    curl_slist_free_all(xfer->headers);
    cw_buf_fini(&xfer->response);
    cw_free(xfer);
}

/* CURLOPT_WRITEFUNCTION: the response body, bounded (rules 29 and 44). */
static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    cw_http_xfer_t *xfer = userp;
    size_t n = size * nmemb;
    int rc;

    if (n == 0) {
        return 0;
    }
    rc = cw_buf_append(&xfer->response, data, n);
    if (rc < 0) {
        /* Anything but n aborts the transfer with CURLE_WRITE_ERROR. */
        xfer->write_rc = rc;
        return 0;
    }
    return n;
}

static uint64_t info_us(CURL *easy, CURLINFO what)
{
    curl_off_t v = 0;

    if (curl_easy_getinfo(easy, what, &v) != CURLE_OK || v < 0) {
        return 0;
    }
    return (uint64_t)v;
}

/* Fills res (timing, status, content type) from a finished easy handle. */
static void collect_info(CURL *easy, cw_http_client_result_t *res, char *ctype, size_t ctype_size)
{
    long http_status = 0;
    long connects = 0;
    char *ct = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status) == CURLE_OK) {
        res->http_status = (int)http_status;
    }
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
        res->new_connections = connects;
    }
    if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL) {
        /* Owned by the easy handle, which is about to go: copy it. */
        cw_strlcpy(ctype, ct, ctype_size);
        res->content_type = ctype;
    }
    res->timing.name_lookup_us = info_us(easy, CURLINFO_NAMELOOKUP_TIME_T);
    res->timing.connect_us = info_us(easy, CURLINFO_CONNECT_TIME_T);
    res->timing.tls_us = info_us(easy, CURLINFO_APPCONNECT_TIME_T);
    res->timing.first_byte_us = info_us(easy, CURLINFO_STARTTRANSFER_TIME_T);
    res->timing.total_us = info_us(easy, CURLINFO_TOTAL_TIME_T);
}

/* Sets res->status and its one-line message for a finished transfer. */
static void describe(cw_http_xfer_t *xfer, CURLcode result, cw_http_client_result_t *res)
{
    int code = cw_err_from_curl(result);

    if (result == CURLE_WRITE_ERROR && xfer->write_rc < 0) {
        code = xfer->write_rc;
    }
    res->status = code;
    if (code == 0) {
        cw_error_clear(&res->error);
    } else if (code == CW_E2BIG) {
        (void)cw_error_set(&res->error, code, "net", "response larger than %zu bytes",
                           xfer->response.max_len);
    } else if (xfer->errbuf[0] != '\0') {
        (void)cw_error_set(&res->error, code, "net", "%s", xfer->errbuf);
    } else {
        (void)cw_error_set(&res->error, code, "net", "%s", curl_easy_strerror(result));
    }
    /* curl's messages may end with a newline; the message is one line. */
    res->error.msg[strcspn(res->error.msg, "\r\n")] = '\0';
}

/* Hands res to the callback and frees the transfer (already unlinked). */
static void deliver(cw_http_xfer_t *xfer, cw_http_client_result_t *res)
{
    cw_http_client_done_cb on_done = xfer->on_done;
    void *arg = xfer->arg;

    res->body = xfer->response.data != NULL ? xfer->response.data : "";
    res->body_len = xfer->response.len;
    xfer->on_done = NULL;
    on_done(res, arg);
    xfer_free(xfer);
}

void cw_net__xfer_done(cw_http_xfer_t *xfer, CURLcode result)
{
    cw_http_client_t *client = xfer->client;
    cw_http_client_result_t res;
    char ctype[256];

    memset(&res, 0, sizeof(res));
    collect_info(xfer->easy, &res, ctype, sizeof(ctype));
    describe(xfer, result, &res);
    xfer_unlink(xfer);
    (void)curl_multi_remove_handle(client->multi, xfer->easy);
    curl_easy_cleanup(xfer->easy);
    xfer->easy = NULL;
    deliver(xfer, &res);
}

void cw_net__client_reap_failed(cw_http_client_t *client)
{
    cw_http_xfer_t *xfer;
    cw_http_xfer_t *next;

    client->failed_pending = 0;
    for (xfer = client->xfers; xfer != NULL && !client->closing; xfer = next) {
        cw_http_client_result_t res;

        next = xfer->next;
        if (xfer->fail_rc == 0) {
            continue;
        }
        memset(&res, 0, sizeof(res));
        xfer_unlink(xfer);
        (void)curl_multi_remove_handle(client->multi, xfer->easy);
        curl_easy_cleanup(xfer->easy);
        xfer->easy = NULL;
        res.status = cw_error_set(&res.error, xfer->fail_rc, "net",
                                  "cannot watch the connection: %s", cw_strerror(xfer->fail_rc));
        deliver(xfer, &res);
        /* on_done may have posted or finished others: start over. */
        next = client->xfers;
    }
}

/* Cancels a transfer still in flight: its callback gets CW_ECLOSED. */
static void xfer_cancel(cw_http_xfer_t *xfer)
{
    cw_http_client_result_t res;

    memset(&res, 0, sizeof(res));
    xfer_unlink(xfer);
    (void)curl_multi_remove_handle(xfer->client->multi, xfer->easy);
    curl_easy_cleanup(xfer->easy);
    xfer->easy = NULL;
    res.status = cw_error_set(&res.error, CW_ECLOSED, "net", "client closed before the response");
    deliver(xfer, &res);
}

/* Rejects header lines that could smuggle another header or request. */
static int header_ok(const char *h)
{
    return h != NULL && h[0] != '\0' && strpbrk(h, "\r\n") == NULL && strchr(h, ':') != NULL;
}

static int build_headers(cw_http_xfer_t *xfer, const cw_http_client_post_options_t *opts)
{
    struct curl_slist *l;
    cw_buf_t line;
    size_t i;
    int rc = 0;

    cw_buf_init(&line, 4096);
    /* No "Expect: 100-continue" round trip: bodies are sent at once. */
    l = curl_slist_append(xfer->headers, "Expect:");
    CW_CHECK_ALLOC(l);
    xfer->headers = l;
    if (opts->content_type != NULL) {
        if (strpbrk(opts->content_type, "\r\n") != NULL) {
            rc = CW_EINVAL;
            goto out;
        }
        CW_TRY(cw_buf_appendf(&line, "Content-Type: %s", opts->content_type));
        l = curl_slist_append(xfer->headers, line.data);
        CW_CHECK_ALLOC(l);
        xfer->headers = l;
    }
    for (i = 0; i < opts->header_count; i++) {
        if (!header_ok(opts->headers[i])) {
            rc = CW_EINVAL;
            goto out;
        }
        l = curl_slist_append(xfer->headers, opts->headers[i]);
        CW_CHECK_ALLOC(l);
        xfer->headers = l;
    }
out:
    cw_buf_fini(&line);
    return rc;
}

/* Records the first option curl refused; later ones are still tried, harmlessly. */
static void note_setopt(CURLcode code, const char *name, const char **failed)
{
    if (code != CURLE_OK && *failed == NULL) {
        *failed = name;
    }
}

/* Every option is checked: a silently ignored TLS option is a hole. */
#define SETOPT(opt, val) note_setopt(curl_easy_setopt(easy, opt, val), #opt, &failed)

static int setup_easy(cw_http_xfer_t *xfer, const cw_http_client_post_options_t *opts)
{
    CURL *easy = xfer->easy;
    const char *failed = NULL;
    const char *protocols = opts->allow_plain_http ? "http,https" : "https";
    long tls =
        opts->tls_min == CW_HTTP_CLIENT_TLS_1_3 ? CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2;

    SETOPT(CURLOPT_PRIVATE, (void *)xfer);
    SETOPT(CURLOPT_ERRORBUFFER, xfer->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_URL, opts->url);
    SETOPT(CURLOPT_PROTOCOLS_STR, protocols);
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    /* Environment proxies (http_proxy, ...) must not reroute partner traffic. */
    SETOPT(CURLOPT_PROXY, "");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_USERAGENT, "clearway/" CW_VERSION);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)opts->connect_timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)opts->total_timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opts->body_len);
    /* Borrowed, not copied: the caller keeps body alive until on_done. */
    SETOPT(CURLOPT_POSTFIELDS, opts->body != NULL ? opts->body : "");
    SETOPT(CURLOPT_HTTPHEADER, xfer->headers);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, (void *)xfer);
    /* Fails early on a Content-Length over the limit; on_write catches the rest. */
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opts->response_bytes_max);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_SSLVERSION, tls);
    if (opts->ca_file != NULL) {
        SETOPT(CURLOPT_CAINFO, opts->ca_file);
    }
    if (opts->client_cert_file != NULL) {
        SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
        SETOPT(CURLOPT_SSLCERT, opts->client_cert_file);
    }
    if (opts->client_key_file != NULL) {
        SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
        SETOPT(CURLOPT_SSLKEY, opts->client_key_file);
    }
    if (opts->pinned_pubkey != NULL) {
        SETOPT(CURLOPT_PINNEDPUBLICKEY, opts->pinned_pubkey);
    }
    if (failed != NULL) {
        CW_LOG_ERROR("net", "curl refused %s", failed);
        return CW_EINTERNAL;
    }
    return 0;
}

#undef SETOPT

static int options_ok(const cw_http_client_post_options_t *opts)
{
    if (opts->url == NULL || opts->url[0] == '\0') {
        return 0;
    }
    if (opts->body == NULL && opts->body_len != 0) {
        return 0;
    }
    if (opts->header_count > 0 && opts->headers == NULL) {
        return 0;
    }
    if (opts->connect_timeout_ms == 0 || opts->total_timeout_ms == 0
        || opts->response_bytes_max == 0) {
        /* curl reads 0 as "no limit": never let that through by accident. */
        return 0;
    }
    if (opts->connect_timeout_ms > INT32_MAX || opts->total_timeout_ms > INT32_MAX) {
        return 0;
    }
    return opts->tls_min == CW_HTTP_CLIENT_TLS_1_2 || opts->tls_min == CW_HTTP_CLIENT_TLS_1_3;
}

int cw_http_client_post(cw_http_client_t *client,
                        const cw_http_client_post_options_t *opts,
                        cw_http_client_done_cb on_done,
                        void *arg)
{
    cw_http_xfer_t *xfer = NULL;
    CURLMcode mrc;
    int rc = 0;

    if (CW_NEVER(client == NULL || opts == NULL || on_done == NULL)) {
        return CW_EINVAL;
    }
    if (client->closing || client->multi == NULL) {
        return CW_ECLOSED;
    }
    if (!options_ok(opts)) {
        return CW_EINVAL;
    }
    xfer = cw_calloc(1, sizeof(*xfer));
    CW_CHECK_ALLOC(xfer);
    xfer->client = client;
    xfer->on_done = on_done;
    xfer->arg = arg;
    cw_buf_init(&xfer->response, opts->response_bytes_max);
    xfer->easy = curl_easy_init();
    CW_CHECK_ALLOC(xfer->easy);
    CW_TRY(build_headers(xfer, opts));
    CW_TRY(setup_easy(xfer, opts));
    mrc = curl_multi_add_handle(client->multi, xfer->easy);
    if (mrc != CURLM_OK) {
        rc = mrc == CURLM_OUT_OF_MEMORY ? CW_ENOMEM : CW_EINTERNAL;
        CW_LOG_ERROR("net", "curl_multi_add_handle: %s", curl_multi_strerror(mrc));
        goto out;
    }
    /* From here curl holds it; it starts from the timer curl just armed. */
    xfer_link(client, xfer);
    xfer = NULL;
out:
    xfer_free(xfer);
    return rc;
}

/* ==== Client lifecycle ==== */

int cw_http_client_new(cw_http_client_t **out, uv_loop_t *loop, cw_error_t *err)
{
    cw_http_client_t *client = NULL;
    int rc = 0;

    *out = NULL;
    client = cw_calloc(1, sizeof(*client));
    if (client == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, "net", "out of memory creating the HTTP client");
        goto out;
    }
    client->loop = loop;
    client->multi = curl_multi_init();
    if (client->multi == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, "net", "curl_multi_init failed");
        goto out;
    }
    CW_TRY(cw_net__curl_uv_init(client, err));
    *out = client;
    client = NULL;
out:
    if (client != NULL) {
        if (client->multi != NULL) {
            (void)curl_multi_cleanup(client->multi);
        }
        cw_free(client);
    }
    return rc;
}

int cw_http_client_set_host_connections_max(cw_http_client_t *client, uint32_t host_connections_max)
{
    if (client->closing || client->multi == NULL || host_connections_max > INT32_MAX) {
        return CW_EINVAL;
    }
    if (curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)host_connections_max)
        != CURLM_OK) {
        return CW_EINVAL;
    }
    return 0;
}

int cw_http_client_set_idle_connections_max(cw_http_client_t *client, uint32_t idle_connections_max)
{
    if (client->closing || client->multi == NULL || idle_connections_max == 0
        || idle_connections_max > INT32_MAX) {
        return CW_EINVAL;
    }
    if (curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS, (long)idle_connections_max)
        != CURLM_OK) {
        return CW_EINVAL;
    }
    return 0;
}

size_t cw_http_client_in_flight(const cw_http_client_t *client)
{
    return client->xfer_count;
}

void cw_http_client_close(cw_http_client_t *client, cw_http_client_closed_cb on_closed, void *arg)
{
    CURLM *multi;

    if (client == NULL || client->closing) {
        return;
    }
    client->closing = 1;
    client->on_closed = on_closed;
    client->closed_arg = arg;
    /* Rule 35: transfers first (their callbacks may still post, and get
     * CW_ECLOSED), then the multi handle, then the uv handles. */
    while (client->xfers != NULL) {
        xfer_cancel(client->xfers);
    }
    /* Cleared first: socket callbacks that run during the cleanup (closing
     * cached connections) must not call back into the multi being freed. */
    multi = client->multi;
    client->multi = NULL;
    (void)curl_multi_cleanup(multi);
    cw_net__curl_uv_close(client);
}

void cw_net__client_finish(cw_http_client_t *client)
{
    cw_http_client_closed_cb on_closed = client->on_closed;
    void *arg = client->closed_arg;

    cw_free(client);
    if (on_closed != NULL) {
        on_closed(arg);
    }
}
