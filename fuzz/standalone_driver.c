/*
 * Standalone driver for the fuzz targets, linked instead of libFuzzer when
 * the build is not clang -fsanitize=fuzzer (gcc builds, the ctest smoke).
 * It feeds every input file to LLVMFuzzerTestOneInput and can add a fixed,
 * reproducible set of mutants of those inputs:
 *
 *   fuzz_<target> [--mutate N SEED] [--timeout S] [--artifact-prefix P] PATH...
 *
 * A PATH is a file or a directory whose regular files (not those starting
 * with '.') are read in name order. --mutate runs N mutants made from the
 * inputs by a PRNG seeded with SEED: the same arguments and corpus always
 * give the same inputs. An input that crashes (sanitizer report, signal,
 * assert) or runs longer than S seconds is saved as P crash-<hash> or
 * P timeout-<hash>, to be replayed by passing that file as the only PATH.
 * libFuzzer flags (-name=value) are accepted and ignored, so scripts made
 * for libFuzzer binaries can replay a corpus with this one.
 *
 * As in libgit2 fuzzers/standalone_driver.c (STYLE.md rule 65).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; the driver calls it once, like libFuzzer does. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Provided by the sanitizer runtimes; NULL in a build without them. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define DRIVER            "standalone_driver"
#define INPUT_BYTES_MAX   (64u * 1024u * 1024u) /* larger files are refused, not truncated */
#define MUTANT_BYTES_MIN  4096u                 /* room for growth above small seeds */
#define MUTANT_BYTES_MAX  (1024u * 1024u)
#define TIMEOUT_S_DEFAULT 30u
#define EXIT_TIMEOUT      70 /* libFuzzer's -timeout_exitcode */

typedef struct input {
    char *name;    /* path as given or dir/name; owned */
    uint8_t *data; /* owned; exactly len bytes (no terminator) */
    size_t len;
} input_t;

typedef struct input_list {
    input_t *items; /* owned array */
    size_t count;
    size_t cap;
} input_list_t;

typedef struct opts {
    uint64_t mutants;   /* --mutate N */
    uint64_t seed;      /* --mutate N SEED */
    uint64_t timeout_s; /* 0: no per-input limit */
    const char *artifact_prefix;
} opts_t;

/*
 * The input being run, for the crash and timeout handlers: a signal handler
 * and a sanitizer death callback receive no argument, so this is the one
 * piece of process-wide mutable state the driver needs.
 */
static struct {
    const uint8_t *data;
    size_t len;
    const char *prefix;
} current;

/* ==== Saving the input that failed ==== */

/* Async-signal-safe: only write(2), open(2) and close(2) below. */
static void say(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));

    (void)n;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static void save_current(const char *kind)
{
    static const char hex[] = "0123456789abcdef";
    char path[4096];
    size_t plen;
    size_t klen = strlen(kind);
    uint64_t h;
    size_t off = 0;
    int fd;
    int i;

    if (current.data == NULL) {
        say(DRIVER ": the report above is about no single input (start-up, or leaks found at "
                   "exit: replay the inputs one at a time to find the leaking one)\n");
        return;
    }
    plen = strlen(current.prefix);
    if (plen + klen + 1 + 16 + 1 > sizeof(path)) {
        say(DRIVER ": artifact prefix too long; input not saved\n");
        return;
    }
    memcpy(path, current.prefix, plen);
    memcpy(path + plen, kind, klen);
    path[plen + klen] = '-';
    h = fnv1a(current.data, current.len);
    for (i = 0; i < 16; i++) {
        path[plen + klen + 1 + (size_t)i] = hex[(h >> (60 - 4 * i)) & 0xfu];
    }
    path[plen + klen + 17] = '\0';
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        say(DRIVER ": cannot save the input\n");
        return;
    }
    while (off < current.len) {
        ssize_t n = write(fd, current.data + off, current.len - off);

        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    (void)close(fd);
    say(DRIVER ": input saved to ");
    say(path);
    say("\n");
}

static void on_sanitizer_death(void)
{
    save_current("crash");
}

static void on_fatal_signal(int sig)
{
    save_current("crash");
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    say(DRIVER ": timeout: one input ran longer than the --timeout limit\n");
    save_current("timeout");
    _exit(EXIT_TIMEOUT);
}

/*
 * Under a sanitizer, the runtime owns SIGSEGV and friends and reports
 * first; its death callback then saves the input. It does not handle
 * SIGABRT (assert) by default, so that one is always ours.
 */
static void handlers_install(void)
{
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
    size_t i;

    if (__sanitizer_set_death_callback != NULL) {
        __sanitizer_set_death_callback(on_sanitizer_death);
    } else {
        for (i = 0; i < CW_ARRAY_SIZE(fatal); i++) {
            (void)signal(fatal[i], on_fatal_signal);
        }
    }
    (void)signal(SIGABRT, on_fatal_signal);
    (void)signal(SIGALRM, on_alarm);
}

/* ==== Running one input ==== */

/*
 * The target gets a heap copy of exactly len bytes, so that reading one
 * byte past the end hits the sanitizer's redzone, as under libFuzzer.
 */
static int run_one(const opts_t *o, const uint8_t *data, size_t len)
{
    uint8_t *copy = cw_malloc(len > 0 ? len : 1);

    if (copy == NULL) {
        fprintf(stderr, DRIVER ": out of memory\n");
        return CW_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    current.data = copy;
    current.len = len;
    (void)alarm((unsigned)o->timeout_s);
    (void)LLVMFuzzerTestOneInput(copy, len);
    (void)alarm(0);
    current.data = NULL;
    current.len = 0;
    cw_free(copy);
    return 0;
}

/* ==== Reading the inputs ==== */

static int list_add(input_list_t *l, const char *name, uint8_t *data, size_t len)
{
    input_t *grown;
    char *copy = cw_strdup(name);

    if (copy == NULL) {
        return CW_ENOMEM;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap != 0 ? l->cap * 2 : 16;

        grown = cw_realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL) {
            cw_free(copy);
            return CW_ENOMEM;
        }
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count].name = copy;
    l->items[l->count].data = data;
    l->items[l->count].len = len;
    l->count++;
    return 0;
}

static void list_fini(input_list_t *l)
{
    size_t i;

    for (i = 0; i < l->count; i++) {
        cw_free(l->items[i].name);
        cw_free(l->items[i].data);
    }
    cw_free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Reads path into a new buffer of exactly its size (owned by the caller). */
static int file_read(uint8_t **out, size_t *len_out, const char *path)
{
    FILE *f = NULL;
    cw_buf_t b;
    char chunk[16384];
    size_t n;
    int rc = 0;

    *out = NULL;
    *len_out = 0;
    cw_buf_init(&b, INPUT_BYTES_MAX);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, DRIVER ": %s: %s\n", path, strerror(errno));
        rc = CW_EIO;
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = cw_buf_append(&b, chunk, n);
        if (rc < 0) {
            fprintf(stderr, DRIVER ": %s: %s\n", path, cw_strerror(rc));
            goto out;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, DRIVER ": %s: read error\n", path);
        rc = CW_EIO;
        goto out;
    }
    *out = cw_malloc(b.len > 0 ? b.len : 1);
    CW_CHECK_ALLOC(*out);
    if (b.len > 0) {
        memcpy(*out, b.data, b.len);
    }
    *len_out = b.len;
out:
    if (f != NULL) {
        (void)fclose(f);
    }
    cw_buf_fini(&b);
    return rc;
}

static int file_add(input_list_t *l, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    rc = file_read(&data, &len, path);
    if (rc == 0) {
        rc = list_add(l, path, data, len);
    }
    if (rc < 0) {
        cw_free(data);
    }
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the regular files of dir, sorted by name so runs are reproducible. */
static int dir_add(input_list_t *l, const char *dir)
{
    DIR *d = NULL;
    struct dirent *e;
    struct stat st;
    char **names = NULL;
    char **grown;
    size_t count = 0;
    size_t cap = 0;
    size_t i;
    cw_buf_t path;
    int rc = 0;

    cw_buf_init(&path, 4096);
    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, DRIVER ": %s: %s\n", dir, strerror(errno));
        rc = CW_EIO;
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (count == cap) {
            cap = cap != 0 ? cap * 2 : 64;
            grown = cw_realloc(names, cap * sizeof(*names));
            CW_CHECK_ALLOC(grown);
            names = grown;
        }
        names[count] = cw_strdup(e->d_name);
        CW_CHECK_ALLOC(names[count]);
        count++;
    }
    if (count > 0) {
        qsort(names, count, sizeof(*names), name_cmp);
    }
    for (i = 0; i < count; i++) {
        cw_buf_reset(&path);
        CW_TRY(cw_buf_appendf(&path, "%s/%s", dir, names[i]));
        if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        CW_TRY(file_add(l, path.data));
    }
out:
    if (d != NULL) {
        (void)closedir(d);
    }
    for (i = 0; i < count; i++) {
        cw_free(names[i]);
    }
    cw_free(names);
    cw_buf_fini(&path);
    return rc;
}

static int path_add(input_list_t *l, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        fprintf(stderr, DRIVER ": %s: %s\n", path, strerror(errno));
        return CW_EIO;
    }
    return S_ISDIR(st.st_mode) ? dir_add(l, path) : file_add(l, path);
}

/* ==== Deterministic mutations ==== */

/* splitmix64: tiny, fast and the same on every platform. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A value in [0, n); 0 when n is 0. */
static size_t rng_below(uint64_t *state, size_t n)
{
    return n != 0 ? (size_t)(rng_next(state) % n) : 0;
}

/*
 * Tokens that make a byte-level mutator reach the interesting parts of
 * XML, XML-DSig and the configuration much sooner than random bytes do.
 */
static const char *const tokens[] = {
    "<",
    ">",
    "</",
    "/>",
    "=\"",
    "\"",
    "'",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x10FFFF;",
    "&#xD800;",
    "&e;",
    "<!DOCTYPE r [<!ENTITY e \"x\">]>",
    "<!DOCTYPE r SYSTEM \"file:///etc/passwd\">",
    "<!ENTITY % p SYSTEM \"http://127.0.0.1/\">",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
    "<?xml version=\"1.1\"?>",
    "<?pi data?>",
    "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\"/>",
    "xmlns=\"\"",
    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
    "xmlns:x=\"rel/uri\"",
    "xml:id=\"x\"",
    "Id=\"c1\"",
    "URI=\"\"",
    "URI=\"#c1\"",
    "URI=\"http://127.0.0.1/x\"",
    "Algorithm=\"",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "http://www.w3.org/2000/09/xmldsig#base64",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
    "</ds:Signature>",
    "<ds:Reference URI=\"\">",
    "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
    "<ds:XPath>1</ds:XPath></ds:Transform>",
    "<ds:Object><ds:Manifest/></ds:Object>",
    "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate>"
    "</ds:X509Data></ds:KeyInfo>",
    "<ds:HMACOutputLength>8</ds:HMACOutputLength>",
    "urn:clearway:envelope:1",
    "urn:clearway:config:1",
    "<From>alice</From>",
    "<From>bob</From>",
    "<Timestamp>2026-01-15T10:00:00Z</Timestamp>",
    "9999-12-31T23:59:60.999999999-23:59",
    "0000-02-29T00:00:00+00:00",
    "<listen name=\"x\" address=\"::1\" port=\"0\"/>",
    "<partner id=\"p\" certs=\"a.pem b.pem c.pem d.pem e.pem\" legacy-sha1=\"true\"/>",
    "<route to=\"p\" url=\"https://127.0.0.1:1/\" insecure-http=\"true\"/>",
    "<limits><xml-depth-max>8</xml-depth-max></limits>",
    "0",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "+1",
    " 1",
    "0x10",
    "true",
    "::",
    "0.0.0.0",
    "256.1.1.1",
    "::ffff:127.0.0.1%eth0",
    "/",
    "../../",
    "\xef\xbb\xbf",
    "\xff\xfe",
    "\xc0\x80",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\r\n",
    "\t",
};

/* Bytes that sit on XML's syntax boundaries, plus the usual edge values. */
static const uint8_t special_bytes[] = { 0x00, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x26,
                                         0x27, 0x2f, 0x3a, 0x3c, 0x3d, 0x3e, 0x3f, 0x5d,
                                         0x7f, 0x80, 0xbf, 0xc0, 0xef, 0xfe, 0xff };

typedef struct mutant {
    uint8_t *data; /* owned, cap bytes */
    size_t len;
    size_t cap;
} mutant_t;

/* Inserts n bytes from src at pos; does nothing without room. */
static void m_insert(mutant_t *m, size_t pos, const uint8_t *src, size_t n)
{
    if (n > m->cap - m->len || pos > m->len) {
        return;
    }
    memmove(m->data + pos + n, m->data + pos, m->len - pos);
    memcpy(m->data + pos, src, n);
    m->len += n;
}

static void m_erase(mutant_t *m, size_t pos, size_t n)
{
    if (pos >= m->len) {
        return;
    }
    if (n > m->len - pos) {
        n = m->len - pos;
    }
    memmove(m->data + pos, m->data + pos + n, m->len - pos - n);
    m->len -= n;
}

/* A short range length: mostly small, sometimes up to a quarter of len. */
static size_t range_len(uint64_t *rng, size_t len)
{
    size_t n = 1 + rng_below(rng, 16);

    if (rng_below(rng, 4) == 0 && len >= 8) {
        n = 1 + rng_below(rng, len / 4);
    }
    return n;
}

/*
 * The position just after the next '>' from pos on (or pos itself when
 * there is none): markup inserted there keeps the document well-formed
 * far more often than markup inserted inside a name or a value.
 */
static size_t after_tag(const mutant_t *m, size_t pos)
{
    const uint8_t *gt = pos < m->len ? memchr(m->data + pos, '>', m->len - pos) : NULL;

    return gt != NULL ? (size_t)(gt - m->data) + 1 : pos;
}

/* Copies n bytes of src (clamped to what is there) into tmp; returns n. */
static size_t
range_copy(uint8_t *tmp, size_t tmp_size, const uint8_t *src, size_t len, size_t from, size_t n)
{
    if (from >= len) {
        return 0;
    }
    if (n > len - from) {
        n = len - from;
    }
    if (n > tmp_size) {
        n = tmp_size;
    }
    memcpy(tmp, src + from, n);
    return n;
}

/*
 * One random edit of m; other is a second input for splicing. Tokens get
 * the largest share: they are what turns one valid seed into another
 * valid, but different, document.
 */
static void mutate_once(mutant_t *m, const input_t *other, uint64_t *rng)
{
    uint8_t tmp[4096];
    size_t pos = rng_below(rng, m->len + 1);
    size_t n;
    size_t reps;
    const char *tok;

    switch (rng_below(rng, 16)) {
    case 0: /* flip one bit */
        if (m->len > 0) {
            m->data[rng_below(rng, m->len)] ^= (uint8_t)(1u << rng_below(rng, 8));
        }
        break;
    case 1: /* overwrite one byte with a special one */
        if (m->len > 0) {
            m->data[rng_below(rng, m->len)] =
                special_bytes[rng_below(rng, CW_ARRAY_SIZE(special_bytes))];
        }
        break;
    case 2: /* insert random bytes */
        n = 1 + rng_below(rng, 8);
        for (reps = 0; reps < n; reps++) {
            tmp[reps] = (uint8_t)rng_next(rng);
        }
        m_insert(m, pos, tmp, n);
        break;
    case 3:
    case 4:
    case 5:
    case 6: /* insert a token, often between two tags */
        tok = tokens[rng_below(rng, CW_ARRAY_SIZE(tokens))];
        if (rng_below(rng, 2) == 0) {
            pos = after_tag(m, pos);
        }
        m_insert(m, pos, (const uint8_t *)tok, strlen(tok));
        break;
    case 7: /* replace a range with a token */
        tok = tokens[rng_below(rng, CW_ARRAY_SIZE(tokens))];
        m_erase(m, pos, range_len(rng, m->len));
        m_insert(m, pos, (const uint8_t *)tok, strlen(tok));
        break;
    case 8: /* delete a range */
        m_erase(m, pos, range_len(rng, m->len));
        break;
    case 9:
    case 10: /* duplicate a range, sometimes many times (deep nesting, big counts) */
        n = range_copy(tmp, sizeof(tmp), m->data, m->len, rng_below(rng, m->len),
                       range_len(rng, m->len));
        reps = rng_below(rng, 4) == 0 ? 1 + rng_below(rng, 300) : 1;
        while (n > 0 && reps-- > 0) {
            m_insert(m, pos, tmp, n);
        }
        break;
    case 11: /* truncate */
        m->len = pos < m->len ? pos : m->len;
        break;
    case 12: /* splice: keep the head, take the tail of another input */
        if (other->len == 0) {
            break;
        }
        n = rng_below(rng, other->len);
        m->len = pos;
        reps = other->len - n < m->cap - m->len ? other->len - n : m->cap - m->len;
        memcpy(m->data + m->len, other->data + n, reps);
        m->len += reps;
        break;
    case 13: /* insert a range of another input, often between two tags */
        n = range_copy(tmp, sizeof(tmp), other->data, other->len, rng_below(rng, other->len),
                       range_len(rng, other->len));
        if (rng_below(rng, 2) == 0) {
            pos = after_tag(m, pos);
        }
        m_insert(m, pos, tmp, n);
        break;
    default: /* swap two bytes */
        if (m->len > 1) {
            size_t a = rng_below(rng, m->len);
            size_t b = rng_below(rng, m->len);
            uint8_t c = m->data[a];

            m->data[a] = m->data[b];
            m->data[b] = c;
        }
        break;
    }
}

/*
 * Runs o->mutants mutants. Each starts from an input chosen by the PRNG
 * (or, one time in eight, from the previous mutant, so that edits stack)
 * and gets one edit, or two to five one time in four: single edits keep
 * most mutants parseable, so they reach the code behind the parser.
 */
static int mutants_run(const opts_t *o, const input_list_t *l)
{
    uint64_t rng = o->seed;
    mutant_t m = { NULL, 0, 0 };
    size_t biggest = 0;
    size_t edits;
    uint64_t i;
    const input_t *in;
    int rc = 0;

    if (l->count == 0) {
        goto out;
    }
    for (i = 0; i < l->count; i++) {
        if (l->items[i].len > biggest) {
            biggest = l->items[i].len;
        }
    }
    m.cap = biggest * 2 > MUTANT_BYTES_MIN ? biggest * 2 : MUTANT_BYTES_MIN;
    if (m.cap > MUTANT_BYTES_MAX) {
        m.cap = MUTANT_BYTES_MAX;
    }
    m.data = cw_malloc(m.cap);
    CW_CHECK_ALLOC(m.data);
    for (i = 0; i < o->mutants; i++) {
        if (i == 0 || rng_below(&rng, 8) != 0) {
            in = &l->items[rng_below(&rng, l->count)];
            m.len = in->len < m.cap ? in->len : m.cap;
            if (m.len > 0) {
                memcpy(m.data, in->data, m.len);
            }
        }
        edits = rng_below(&rng, 4) == 0 ? 2 + rng_below(&rng, 4) : 1;
        while (edits-- > 0) {
            mutate_once(&m, &l->items[rng_below(&rng, l->count)], &rng);
        }
        CW_TRY(run_one(o, m.data, m.len));
    }
out:
    cw_free(m.data);
    return rc;
}

/* ==== main ==== */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fuzz_<target> [--mutate N SEED] [--timeout S] [--artifact-prefix P] "
            "PATH...\n"
            "  PATH                 an input file, or a directory of input files\n"
            "  --mutate N SEED      also run N deterministic mutants of the inputs\n"
            "  --timeout S          seconds one input may take (default %u, 0: none)\n"
            "  --artifact-prefix P  prefix of saved crash-/timeout- files (default ./)\n"
            "libFuzzer flags (-name=value) are ignored.\n",
            TIMEOUT_S_DEFAULT);
}

static int number_arg(uint64_t *out, const char *opt, const char *s, uint64_t max)
{
    if (s == NULL || cw_parse_uint(s, 0, max, out) < 0) {
        fprintf(stderr, DRIVER ": %s needs a number up to %llu\n", opt, (unsigned long long)max);
        return CW_EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = { 0, 0, TIMEOUT_S_DEFAULT, "./" };
    input_list_t inputs = { NULL, 0, 0 };
    uint64_t start_ms;
    size_t paths = 0;
    size_t i;
    int a;
    int rc = 0;

    for (a = 1; a < argc && rc == 0; a++) {
        if (strcmp(argv[a], "--mutate") == 0) {
            rc = number_arg(&o.mutants, "--mutate", a + 1 < argc ? argv[a + 1] : NULL, UINT32_MAX);
            if (rc == 0) {
                rc = number_arg(&o.seed, "--mutate", a + 2 < argc ? argv[a + 2] : NULL, UINT64_MAX);
            }
            a += 2;
        } else if (strcmp(argv[a], "--timeout") == 0) {
            rc = number_arg(&o.timeout_s, "--timeout", a + 1 < argc ? argv[a + 1] : NULL, 86400);
            a++;
        } else if (strcmp(argv[a], "--artifact-prefix") == 0 && a + 1 < argc) {
            o.artifact_prefix = argv[++a];
        } else if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[a][0] == '-' && argv[a][1] != '-' && strchr(argv[a], '=') != NULL) {
            continue; /* a libFuzzer flag */
        } else if (argv[a][0] == '-') {
            fprintf(stderr, DRIVER ": unknown option %s\n", argv[a]);
            rc = CW_EINVAL;
        } else {
            paths++;
        }
    }
    if (rc < 0 || paths == 0) {
        usage(stderr);
        return 2;
    }

    current.prefix = o.artifact_prefix;
    handlers_install();
    if (LLVMFuzzerInitialize != NULL) {
        (void)LLVMFuzzerInitialize(&argc, &argv);
    }

    /* Second pass: the option values were validated above. */
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--mutate") == 0) {
            a += 2;
        } else if (strcmp(argv[a], "--timeout") == 0 || strcmp(argv[a], "--artifact-prefix") == 0) {
            a++;
        } else if (argv[a][0] != '-') {
            CW_TRY(path_add(&inputs, argv[a]));
        }
    }

    start_ms = cw_time_mono_ms();
    for (i = 0; i < inputs.count; i++) {
        CW_TRY(run_one(&o, inputs.items[i].data, inputs.items[i].len));
    }
    CW_TRY(mutants_run(&o, &inputs));
    fprintf(stderr, DRIVER ": %zu inputs and %llu mutants (seed %llu) ran in %llu ms\n",
            inputs.count, (unsigned long long)o.mutants, (unsigned long long)o.seed,
            (unsigned long long)(cw_time_mono_ms() - start_ms));
out:
    list_fini(&inputs);
    return rc < 0 ? 1 : 0;
}
