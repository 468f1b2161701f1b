/*
 * checks/pty.c: party data quality (PTY-001, yellow, soft).
 *   A name that is a party stop word ("private", "unknown", "N/A", ...), or
 *   a phone number not in E.123 international form: "+", a country code,
 *   digit groups separated by single spaces, 8 to 15 digits in all.
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

static int name_bad(const char *name)
{
    static const char *const words[] = { "PRIVATE", "UNKNOWN", "N A",      "NA",    "NONE",
                                         "NULL",    "TEST",    "CUSTOMER", "BUYER", "XXX" };
    char norm[CW_CHECKS_TEXT_SIZE];

    cw_checks_normalise(norm, sizeof(norm), name);
    for (size_t i = 0; i < CW_ARRAY_SIZE(words); i++) {
        if (strcmp(norm, words[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int e123(const char *s)
{
    int digits = 0;

    if (s[0] != '+' || s[1] < '1' || s[1] > '9') {
        return 0;
    }
    for (const char *p = s + 1; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits++;
        } else if (*p != ' ' || p[1] == ' ' || p[1] == '\0') {
            return 0;
        }
    }
    return digits >= 8 && digits <= 15;
}

static void party(cw_checks_run_t *run, const char *tag, const cw_checks_party_t *p)
{
    char field[48];

    if (!p->present) {
        return;
    }
    if (p->name[0] != '\0' && name_bad(p->name)) {
        (void)snprintf(field, sizeof(field), "%s/Name", tag);
        cw_checks__finding(run, "PTY-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, NULL,
                           "%s \"%s\" is not a name", field, p->name);
    }
    if (p->phone[0] != '\0' && !e123(p->phone)) {
        (void)snprintf(field, sizeof(field), "%s/Phone", tag);
        cw_checks__finding(run, "PTY-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, NULL,
                           "%s \"%s\" is not in E.123 international form", field, p->phone);
    }
}

int cw_checks__pty(cw_checks_run_t *run)
{
    party(run, "Seller", &run->c->seller);
    party(run, "Buyer", &run->c->buyer);
    if (run->c->consignee.present
        && (strcmp(run->c->consignee.name, run->c->buyer.name) != 0
            || strcmp(run->c->consignee.phone, run->c->buyer.phone) != 0)) {
        party(run, "Consignee", &run->c->consignee);
    }
    return 0;
}
