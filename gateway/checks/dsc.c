/*
 * checks/dsc.c: goods descriptions.
 *   DSC-001  the description is an ICS2 stop word or too vague (fewer than
 *            2 meaningful words): yellow (soft); red for an EU
 *            safety-and-security filing (profile Description/@safety-security-red).
 *   DSC-002  the description names goods (keyword table) whose HS chapters
 *            do not include the item's chapter: yellow (soft).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

static int cmp_word(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The lists are sorted at load (profile.c). */
static int in_list(const char (*list)[CW_CHECKS_WORD_SIZE], size_t n, const char *w)
{
    return bsearch(w, list, n, CW_CHECKS_WORD_SIZE, cmp_word) != NULL;
}

/* Words of at least 2 characters with a letter, not filler, not stop words. */
static int meaningful_words(const cw_checks_rules_t *r, const char *norm)
{
    char word[CW_CHECKS_WORD_SIZE];
    int count = 0;

    while (*norm != '\0') {
        size_t n = strcspn(norm, " ");
        int letter = 0;
        for (size_t i = 0; i < n; i++) {
            letter |= (norm[i] >= 'A' && norm[i] <= 'Z') || (unsigned char)norm[i] >= 0x80;
        }
        if (n >= 2 && n < sizeof(word) && letter) {
            memcpy(word, norm, n);
            word[n] = '\0';
            if (!in_list(r->fillers, r->fillers_len, word)
                && !in_list(r->stop_words, r->stop_words_len, word)) {
                count++;
            }
        }
        norm += n;
        norm += *norm == ' ';
    }
    return count;
}

static void vague(cw_checks_run_t *run, const cw_checks_item_t *it, const char *norm)
{
    const cw_checks_rules_t *r = run->rules;
    int red = run->profile->ss_red && run->c->filing == CW_CHECKS_FILING_SAFETY_SECURITY;
    char field[48], src[160];
    int stop = in_list(r->stop_words, r->stop_words_len, norm);

    if (!stop && meaningful_words(r, norm) >= 2) {
        return;
    }
    (void)snprintf(field, sizeof(field), "Item[%d]/Description", it->line);
    cw_checks__prov_format(src, sizeof(src), &r->stop_prov);
    cw_checks__finding(run, "DSC-001", red ? CW_CHECKS_LANE_RED : CW_CHECKS_LANE_YELLOW,
                       red ? CW_CHECKS_HARD : CW_CHECKS_SOFT, field, src, "%s \"%.80s\" is %s%s",
                       field, it->description,
                       stop ? "an ICS2 stop word" : "too vague (fewer than 2 meaningful words)",
                       red ? " for a safety-and-security filing" : "");
}

static void inconsistent(cw_checks_run_t *run, const cw_checks_item_t *it, const char *norm)
{
    const cw_checks_rules_t *r = run->rules;
    char chapter[3], field[48], src[160];
    const char *hit = NULL;
    int consistent = 0;

    cw_checks__chapter(chapter, it->hs_code);
    if (chapter[0] == '\0') {
        return;
    }
    /* every word start of the description, against the keywords that
     * begin with the same byte */
    for (const char *w = norm; *w != '\0'; w = strchr(w, ' ') != NULL ? strchr(w, ' ') + 1 : "") {
        unsigned char c0 = (unsigned char)*w;
        for (size_t i = r->kw_first[c0]; i < r->kw_first[c0 + 1]; i++) {
            const char *kw = r->keywords[i].word;
            size_t n = strlen(kw);
            if (strncmp(w, kw, n) == 0 && (w[n] == '\0' || w[n] == ' ')) {
                hit = hit != NULL ? hit : kw;
                consistent |= cw_checks__codes2_has(&r->keywords[i].chapters, chapter);
            }
        }
    }
    if (hit == NULL || consistent) {
        return;
    }
    (void)snprintf(field, sizeof(field), "Item[%d]/HsCode", it->line);
    cw_checks__prov_format(src, sizeof(src), &r->kw_prov);
    cw_checks__finding(run, "DSC-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, src,
                       "Item[%d]: \"%.60s\" (%s) does not fit HS chapter %s", it->line,
                       it->description, hit, chapter);
}

int cw_checks__dsc(cw_checks_run_t *run)
{
    char norm[CW_CHECKS_LONG_SIZE];

    for (size_t i = 0; i < run->c->items_len; i++) {
        const cw_checks_item_t *it = &run->c->items[i];
        if (it->description[0] == '\0') {
            continue; /* DAT-001 says it is missing */
        }
        cw_checks_normalise(norm, sizeof(norm), it->description);
        vague(run, it, norm);
        inconsistent(run, it, norm);
    }
    return 0;
}
