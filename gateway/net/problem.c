/*
 * RFC 9457 problem details, as application/problem+json or +xml.
 */
#include <string.h>
#include <strings.h>

#include "net.h"

static const struct {
    const char *slug;
    int status;
    const char *title;
} problems[] = {
#define XX(name, slug, status, title) { slug, status, title },
    CW_PROBLEM_MAP(XX)
#undef XX
};

const char *cw_problem_slug(cw_problem_e kind)
{
    if (CW_NEVER((unsigned)kind >= CW_PROBLEM__COUNT)) {
        return "internal-error";
    }
    return problems[kind].slug;
}

int cw_problem_status(cw_problem_e kind)
{
    if (CW_NEVER((unsigned)kind >= CW_PROBLEM__COUNT)) {
        return 500;
    }
    return problems[kind].status;
}

const char *cw_problem_title(cw_problem_e kind)
{
    if (CW_NEVER((unsigned)kind >= CW_PROBLEM__COUNT)) {
        return "Internal error";
    }
    return problems[kind].title;
}

const char *cw_problem_media_type(cw_problem_format_e fmt)
{
    return fmt == CW_PROBLEM_XML ? "application/problem+xml" : "application/problem+json";
}

/*
 * Returns the q-value (0..1000) that the Accept value gives to a media range
 * containing needle, or -1 when no range mentions it.
 */
static int accept_q(const char *accept, const char *needle)
{
    size_t nlen = strlen(needle);
    const char *p = accept;

    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *semi;
        size_t type_len;

        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        semi = memchr(p, ';', len);
        type_len = semi != NULL ? (size_t)(semi - p) : len;
        while (type_len > 0 && (p[type_len - 1] == ' ' || p[type_len - 1] == '\t')) {
            type_len--;
        }
        if (type_len == nlen && strncasecmp(p, needle, nlen) == 0) {
            int q = 1000;
            const char *qp = semi;

            while (qp != NULL && qp < p + len) {
                const char *s = qp + 1;

                while (s < p + len && *s == ' ') {
                    s++;
                }
                if (p + len - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
                    s += 2;
                    q = 0;
                    if (s < p + len && *s == '1') {
                        q = 1000;
                    } else if (s < p + len && *s == '0') {
                        int scale = 100;

                        s++;
                        if (s < p + len && *s == '.') {
                            s++;
                            while (s < p + len && *s >= '0' && *s <= '9' && scale > 0) {
                                q += (*s - '0') * scale;
                                scale /= 10;
                                s++;
                            }
                        }
                    }
                    break;
                }
                qp = memchr(s, ';', (size_t)(p + len - s));
            }
            return q;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return -1;
}

static int max_q(const char *accept, const char *const *types)
{
    int best = -1;

    for (; *types != NULL; types++) {
        int q = accept_q(accept, *types);

        if (q > best) {
            best = q;
        }
    }
    return best;
}

cw_problem_format_e cw_problem_format_from_accept(const char *accept)
{
    static const char *const xml_types[] = { "application/problem+xml", "application/xml",
                                             "text/xml", NULL };
    static const char *const json_types[] = { "application/problem+json", "application/json",
                                              NULL };
    int xq;
    int jq;

    if (accept == NULL) {
        return CW_PROBLEM_JSON;
    }
    xq = max_q(accept, xml_types);
    jq = max_q(accept, json_types);
    if (xq > 0 && xq > jq) {
        return CW_PROBLEM_XML;
    }
    return CW_PROBLEM_JSON;
}

int cw_problem_render(cw_buf_t *out,
                      cw_problem_format_e fmt,
                      const char *type_slug,
                      const char *title,
                      int status,
                      const char *detail,
                      const char *instance)
{
    int rc = 0;

    if (fmt == CW_PROBLEM_XML) {
        CW_TRY(cw_buf_appends(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                   "<problem xmlns=\"urn:ietf:rfc:7807\">"
                                   "<type>urn:clearway:problem:"));
        CW_TRY(cw_buf_append_xml_str(out, type_slug, strlen(type_slug)));
        CW_TRY(cw_buf_appends(out, "</type><title>"));
        CW_TRY(cw_buf_append_xml_str(out, title, strlen(title)));
        CW_TRY(cw_buf_appendf(out, "</title><status>%d</status>", status));
        if (detail != NULL) {
            CW_TRY(cw_buf_appends(out, "<detail>"));
            CW_TRY(cw_buf_append_xml_str(out, detail, strlen(detail)));
            CW_TRY(cw_buf_appends(out, "</detail>"));
        }
        if (instance != NULL) {
            CW_TRY(cw_buf_appends(out, "<instance>"));
            CW_TRY(cw_buf_append_xml_str(out, instance, strlen(instance)));
            CW_TRY(cw_buf_appends(out, "</instance>"));
        }
        CW_TRY(cw_buf_appends(out, "</problem>\n"));
        goto out;
    }
    CW_TRY(cw_buf_appends(out, "{\"type\":\"urn:clearway:problem:"));
    CW_TRY(cw_buf_append_json_str(out, type_slug, strlen(type_slug)));
    CW_TRY(cw_buf_appends(out, "\",\"title\":\""));
    CW_TRY(cw_buf_append_json_str(out, title, strlen(title)));
    CW_TRY(cw_buf_appendf(out, "\",\"status\":%d", status));
    if (detail != NULL) {
        CW_TRY(cw_buf_appends(out, ",\"detail\":\""));
        CW_TRY(cw_buf_append_json_str(out, detail, strlen(detail)));
        CW_TRY(cw_buf_appends(out, "\""));
    }
    if (instance != NULL) {
        CW_TRY(cw_buf_appends(out, ",\"instance\":\""));
        CW_TRY(cw_buf_append_json_str(out, instance, strlen(instance)));
        CW_TRY(cw_buf_appends(out, "\""));
    }
    CW_TRY(cw_buf_appends(out, "}\n"));
out:
    return rc;
}
