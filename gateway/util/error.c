/*
 * Error names and messages, generated from the one CW_ERRNO_MAP table.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *cw_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define XX(name, num, msg) \
    case -(num):           \
        return msg;
        CW_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *cw_err_name(int code)
{
    switch (code) {
    case 0:
        return "CW_OK";
#define XX(name, num, msg) \
    case -(num):           \
        return "CW_" #name;
        CW_ERRNO_MAP(XX)
#undef XX
    default:
        return "CW_E?";
    }
}

int cw_error_set(cw_error_t *err, int code, const char *module, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return code;
    }
    err->code = code;
    err->module = module;
    va_start(ap, fmt);
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void cw_error_clear(cw_error_t *err)
{
    if (err != NULL) {
        memset(err, 0, sizeof(*err));
    }
}
