/*
 * Bounded growable buffers: every buffer has a hard maximum (rule 29).
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

void cw_buf_init(cw_buf_t *b, size_t max_len)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len;
}

void cw_buf_fini(cw_buf_t *b)
{
    cw_free_null(b->data);
    b->len = 0;
    b->cap = 0;
}

void cw_buf_reset(cw_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

static int reserve(cw_buf_t *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *p;

    if (extra > b->max_len - b->len) {
        return CW_E2BIG;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap == 0 ? 256 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max_len + 1) {
        cap = b->max_len + 1;
    }
    p = cw_realloc(b->data, cap);
    if (p == NULL) {
        return CW_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int cw_buf_reserve(cw_buf_t *b, size_t n)
{
    return reserve(b, n);
}

int cw_buf_append(cw_buf_t *b, const void *data, size_t n)
{
    int rc;

    rc = reserve(b, n);
    if (rc < 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, data, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cw_buf_appends(cw_buf_t *b, const char *s)
{
    return cw_buf_append(b, s, strlen(s));
}

int cw_buf_vappendf(cw_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;
    int rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return CW_EINVAL;
    }
    rc = reserve(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cw_buf_appendf(cw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = cw_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. With
 * xml set, U+FFFE and U+FFFF, which XML 1.0 does not allow, are 0 too.
 */
static size_t utf8_len(const unsigned char *s, size_t n, size_t i, int xml)
{
    unsigned char c = s[i];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len, k;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
        return 0;
    }
    for (k = 2; k < len; k++) {
        if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
            return 0;
        }
    }
    if (xml && len == 3 && c == 0xef && s[i + 1] == 0xbf && s[i + 2] >= 0xbe) {
        return 0;
    }
    return len;
}

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

int cw_buf_append_json_str(cw_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    size_t start = 0;
    int rc = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t esc_len = 2;

        if (c >= 0x80) {
            size_t len = utf8_len((const unsigned char *)s, n, i, 0);

            if (len > 0) {
                i += len - 1;
                continue;
            }
            /* Not UTF-8 (a message cut inside a character, a Latin-1
             * byte): JSON text must be UTF-8. */
            CW_TRY(cw_buf_append(b, s + start, i - start));
            CW_TRY(cw_buf_appends(b, UTF8_REPLACEMENT));
            start = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            continue;
        }
        CW_TRY(cw_buf_append(b, s + start, i - start));
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            esc_len = 6;
            break;
        }
        CW_TRY(cw_buf_append(b, esc, esc_len));
        start = i + 1;
    }
    rc = cw_buf_append(b, s + start, n - start);
out:
    return rc;
}

int cw_buf_append_xml_str(cw_buf_t *b, const char *s, size_t n)
{
    size_t i;
    size_t start = 0;
    int rc = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;

        if (c >= 0x80) {
            size_t len = utf8_len((const unsigned char *)s, n, i, 1);

            if (len > 0) {
                i += len - 1;
                continue;
            }
            rep = UTF8_REPLACEMENT; /* not UTF-8, or not an XML character */
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            rep = UTF8_REPLACEMENT; /* no XML 1.0 document may hold it */
        } else {
            switch (c) {
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '&':
                rep = "&amp;";
                break;
            case '"':
                rep = "&quot;";
                break;
            case '\'':
                rep = "&apos;";
                break;
            default:
                continue;
            }
        }
        CW_TRY(cw_buf_append(b, s + start, i - start));
        CW_TRY(cw_buf_appends(b, rep));
        start = i + 1;
    }
    rc = cw_buf_append(b, s + start, n - start);
out:
    return rc;
}

void cw_buf_consume(cw_buf_t *b, size_t n)
{
    if (CW_NEVER(n > b->len)) {
        n = b->len;
    }
    if (n == 0) {
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *cw_buf_detach(cw_buf_t *b, size_t *len_out)
{
    char *data = b->data;

    if (len_out != NULL) {
        *len_out = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}
