/*
 * clearway messages list|show|retry: the admin API of a running node
 * (docs/operations.md, "Status and admin API").
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

#define ADMIN_URL_DEFAULT "http://127.0.0.1:8081"
#define RESPONSE_MAX      (8u * 1024u * 1024u)

static void usage(FILE *f)
{
    fputs("usage: clearway messages list [--state S[,S...]] [--to PARTY] [--since TIME]\n"
          "                              [--limit N] [--cursor C] [--url ADMIN_URL]\n"
          "       clearway messages show --from PARTY [--url ADMIN_URL] MESSAGE_ID\n"
          "       clearway messages retry --from PARTY [--url ADMIN_URL] MESSAGE_ID\n"
          "\n"
          "Talks to a node's admin listener (default " ADMIN_URL_DEFAULT ") and prints its\n"
          "JSON answer. States: received, queued, delivered, failed, rejected. TIME is\n"
          "2026-11-29T10:00:00Z or epoch seconds. retry puts a failed (dead-lettered)\n"
          "message back in the delivery queue.\n"
          "Exit: 0 done, 1 the node refused (e.g. no such message), 2 usage, 4 transport.\n",
          f);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    cw_buf_t *b = arg;

    return cw_buf_append(b, data, size * n) == 0 ? size * n : 0;
}

/* Appends "&name=value" (value percent-encoded) when value is set. */
static int add_param(cw_buf_t *url, CURL *curl, const char *name, const char *value, int *first)
{
    char *enc;
    int rc;

    if (value == NULL) {
        return 0;
    }
    enc = curl_easy_escape(curl, value, 0);
    if (enc == NULL) {
        return CW_ENOMEM;
    }
    rc = cw_buf_appendf(url, "%s%s=%s", *first ? "?" : "&", name, enc);
    curl_free(enc);
    *first = 0;
    return rc;
}

static int request(const char *url, int post)
{
    CURL *curl = curl_easy_init();
    cw_buf_t body;
    long status = 0;
    CURLcode cc;
    int rc = CW_CLI_NET;

    cw_buf_init(&body, RESPONSE_MAX);
    if (curl == NULL) {
        return CW_CLI_INTERNAL;
    }
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK
        || (post && curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L) != CURLE_OK)
        || (post && curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK)) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "clearway messages: %s: %s\n", url, curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (body.len > 0) {
        fwrite(body.data, 1, body.len, status >= 200 && status < 300 ? stdout : stderr);
    }
    rc = status >= 200 && status < 300 ? CW_CLI_OK : CW_CLI_INVALID;
out:
    curl_easy_cleanup(curl);
    cw_buf_fini(&body);
    return rc;
}

int cw_cli_messages(int argc, char **argv)
{
    const char *base = ADMIN_URL_DEFAULT;
    const char *sub;
    const char *from = NULL;
    const char *state = NULL;
    const char *to = NULL;
    const char *since = NULL;
    const char *limit = NULL;
    const char *cursor = NULL;
    const char *id = NULL;
    CURL *curl = NULL;
    char *enc = NULL;
    cw_buf_t url;
    int first = 1;
    int rc = CW_CLI_USAGE;
    int i;

    cw_buf_init(&url, 8192);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CW_CLI_USAGE : CW_CLI_OK;
    }
    sub = argv[1];
    for (i = 2; i < argc; i++) {
        const char **slot = NULL;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CW_CLI_OK;
        }
        if (strcmp(argv[i], "--url") == 0) {
            slot = &base;
        } else if (strcmp(argv[i], "--from") == 0) {
            slot = &from;
        } else if (strcmp(argv[i], "--state") == 0) {
            slot = &state;
        } else if (strcmp(argv[i], "--to") == 0) {
            slot = &to;
        } else if (strcmp(argv[i], "--since") == 0) {
            slot = &since;
        } else if (strcmp(argv[i], "--limit") == 0) {
            slot = &limit;
        } else if (strcmp(argv[i], "--cursor") == 0) {
            slot = &cursor;
        } else if (argv[i][0] != '-' && id == NULL) {
            id = argv[i];
            continue;
        }
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "clearway messages: unknown or incomplete option %s\n", argv[i]);
            usage(stderr);
            goto out;
        }
        *slot = argv[++i];
    }
    curl = curl_easy_init();
    if (curl == NULL) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    if (strcmp(sub, "list") == 0 && id == NULL) {
        if (cw_buf_appendf(&url, "%s/v1/messages", base) < 0
            || add_param(&url, curl, "state", state, &first) < 0
            || add_param(&url, curl, "to", to, &first) < 0
            || add_param(&url, curl, "since", since, &first) < 0
            || add_param(&url, curl, "limit", limit, &first) < 0
            || add_param(&url, curl, "cursor", cursor, &first) < 0) {
            rc = CW_CLI_INTERNAL;
            goto out;
        }
        rc = request(url.data, 0);
    } else if ((strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0) && id != NULL
               && from != NULL) {
        enc = curl_easy_escape(curl, id, 0);
        if (enc == NULL
            || cw_buf_appendf(&url, "%s/v1/messages/%s%s", base, enc,
                              strcmp(sub, "retry") == 0 ? "/retry" : "")
                   < 0
            || add_param(&url, curl, "from", from, &first) < 0) {
            rc = CW_CLI_INTERNAL;
            goto out;
        }
        rc = request(url.data, strcmp(sub, "retry") == 0);
    } else {
        fprintf(stderr, "clearway messages: expected list, or show/retry --from PARTY ID\n");
        usage(stderr);
    }
out:
    if (enc != NULL) {
        curl_free(enc);
    }
    curl_easy_cleanup(curl);
    cw_buf_fini(&url);
    return rc;
}
