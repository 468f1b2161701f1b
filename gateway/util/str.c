/*
 * Bounded string copies and strict number parsing (never atoi).
 */
#include <string.h>

#include "util.h"

int cw_parse_uintn(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || n == 0) {
        return CW_EINVAL;
    }
    for (i = 0; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9') {
            return CW_EINVAL;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return CW_E2BIG;
        }
        v = v * 10 + d;
    }
    if (v < min || v > max) {
        return CW_E2BIG;
    }
    *out = v;
    return 0;
}

int cw_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL) {
        return CW_EINVAL;
    }
    return cw_parse_uintn(s, strlen(s), min, max, out);
}

size_t cw_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;

        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

int cw_strncaseeq(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char a = s[i];
        char b = lit[i];

        if (b == '\0') {
            return 0;
        }
        if (a >= 'A' && a <= 'Z') {
            a = (char)(a - 'A' + 'a');
        }
        if (b >= 'A' && b <= 'Z') {
            b = (char)(b - 'A' + 'a');
        }
        if (a != b) {
            return 0;
        }
    }
    return lit[n] == '\0';
}

int cw_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void cw_uuid4_format(char out[CW_UUID_SIZE], const unsigned char b[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        unsigned char v = b[i];

        if (i == 6) {
            v = (unsigned char)((v & 0x0f) | 0x40);
        } else if (i == 8) {
            v = (unsigned char)((v & 0x3f) | 0x80);
        }
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[v >> 4];
        out[o++] = hex[v & 0x0f];
    }
    out[o] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The four characters of up to three bytes (n of them), padded. */
static void b64_quad(char out[4], const unsigned char *p, size_t n)
{
    uint32_t v = (uint32_t)p[0] << 16;

    if (n > 1) {
        v |= (uint32_t)p[1] << 8;
    }
    if (n > 2) {
        v |= p[2];
    }
    out[0] = b64_alphabet[(v >> 18) & 0x3f];
    out[1] = b64_alphabet[(v >> 12) & 0x3f];
    out[2] = n > 1 ? b64_alphabet[(v >> 6) & 0x3f] : '=';
    out[3] = n > 2 ? b64_alphabet[v & 0x3f] : '=';
}

size_t cw_base64_encode(char *out, const void *in, size_t len)
{
    const unsigned char *p = in;
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        b64_quad(out + o, p + i, len - i < 3 ? len - i : 3);
        o += 4;
    }
    return o;
}

int cw_base64_is(const char *b64, size_t b64_len, const void *raw, size_t raw_len)
{
    const unsigned char *p = raw;
    char quad[4];

    if (b64_len != CW_BASE64_LEN(raw_len)) {
        return 0;
    }
    for (size_t i = 0, o = 0; i < raw_len; i += 3, o += 4) {
        b64_quad(quad, p + i, raw_len - i < 3 ? raw_len - i : 3);
        if (memcmp(quad, b64 + o, 4) != 0) {
            return 0;
        }
    }
    return 1;
}
