/*
 * clearway keys new|show|check: make a node key (and its certificate
 * request), look at a certificate or key in the forms the configuration
 * takes, and check that a key belongs to a certificate.
 *
 * Only key types clearwayd accepts as a node key are made (key_check in
 * sec/keys.c: RSA of 2048 bits or more, EC on P-256 or P-384).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define KEY_FILE_MODE 0600
#define CSR_FILE_MODE 0644
/* A party id as the configuration allows it (docs/configuration.md). */
#define PARTY_ID_BYTES_MAX 127

typedef struct key_type {
    const char *name;  /* --type */
    const char *alg;   /* EVP_PKEY_Q_keygen type */
    const char *curve; /* EC group, or NULL */
    size_t rsa_bits;   /* RSA modulus size, or 0 */
} key_type_t;

static const key_type_t key_types[] = {
    { "ecdsa-p256", "EC", "P-256", 0 }, { "ecdsa-p384", "EC", "P-384", 0 },
    { "rsa-2048", "RSA", NULL, 2048 },  { "rsa-3072", "RSA", NULL, 3072 },
    { "rsa-4096", "RSA", NULL, 4096 },
};

static void keys_usage(FILE *f)
{
    fputs("usage: clearway keys new --type TYPE --out KEY.pem [--csr OUT.csr --party ID]\n"
          "       clearway keys show FILE\n"
          "       clearway keys check --key KEY.pem --cert CERT.pem\n"
          "\n"
          "new:   make a private key (TYPE: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072,\n"
          "       rsa-4096) and write it as PKCS#8 PEM, mode 0600; with --csr also a\n"
          "       certificate request for CN=ID signed by it. Never overwrites a file.\n"
          "show:  subject, issuer, serial, validity, key and the SHA-256 fingerprint\n"
          "       (as tls-fingerprint takes it) of a PEM certificate; type, size and\n"
          "       public-key fingerprint of a PEM key.\n"
          "check: whether KEY.pem is the private key of CERT.pem.\n"
          "clearway keys SUBCOMMAND --help shows one subcommand.\n"
          "Exit: 0 done (check: they match), 1 check: they do not match, 2 usage,\n"
          "      3 unreadable or refused file (new: the file exists).\n",
          f);
}

/* Whether getopt saw --help (returned as -1 so the caller exits 0). */
#define HELP_SHOWN (-1)

/* One "label value" line of the output, the values in one column. */
static void kv(const char *label, const char *value)
{
    printf("%-15s %s\n", label, value);
}

/* ==== keys new ==== */

static void new_usage(FILE *f)
{
    fputs("usage: clearway keys new --type TYPE --out KEY.pem [--csr OUT.csr --party ID]\n"
          "\n"
          "Makes a private key of TYPE (ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072,\n"
          "rsa-4096: the types clearwayd accepts as a node key) and writes it to\n"
          "KEY.pem as unencrypted PKCS#8 PEM, created with mode 0600. With --csr,\n"
          "also writes a certificate signing request (subject CN=ID, SHA-256) for a\n"
          "CA to sign. An existing KEY.pem or OUT.csr is never overwritten.\n"
          "Prints the key type and its public-key fingerprint.\n"
          "Exit: 0 written, 2 usage, 3 a file exists or cannot be written.\n",
          f);
}

typedef struct new_args {
    const key_type_t *type;
    const char *out;
    const char *csr;
    const char *party;
} new_args_t;

static int party_id_ok(const char *id)
{
    size_t n = strlen(id);
    size_t i;

    if (n == 0 || n > PARTY_ID_BYTES_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = id[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == ':' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int new_parse(new_args_t *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "type", required_argument, NULL, 't' }, { "out", required_argument, NULL, 'o' },
        { "csr", required_argument, NULL, 'c' },  { "party", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
    };
    size_t i;
    int c;

    memset(a, 0, sizeof(*a));
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            for (i = 0; i < CW_ARRAY_SIZE(key_types); i++) {
                if (strcmp(optarg, key_types[i].name) == 0) {
                    a->type = &key_types[i];
                }
            }
            if (a->type == NULL) {
                fprintf(stderr, "clearway keys new: unknown --type %s\n", optarg);
                return CW_CLI_USAGE;
            }
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'c':
            a->csr = optarg;
            break;
        case 'p':
            a->party = optarg;
            break;
        case 'h':
            new_usage(stdout);
            return HELP_SHOWN;
        default:
            new_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc || a->type == NULL || a->out == NULL
        || (a->csr == NULL) != (a->party == NULL)) {
        new_usage(stderr);
        return CW_CLI_USAGE;
    }
    if (a->party != NULL && !party_id_ok(a->party)) {
        fprintf(stderr, "clearway keys new: bad --party '%s' (1 to %d of A-Z a-z 0-9 . _ : -)\n",
                a->party, PARTY_ID_BYTES_MAX);
        return CW_CLI_USAGE;
    }
    return CW_CLI_OK;
}

/* Whether path names anything already (a file, a directory, a symlink,
 * even a dangling one): 1 with a message, else 0. */
static int taken(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        fprintf(stderr, "clearway keys new: %s already exists; not overwritten\n", path);
        return 1;
    }
    return 0;
}

/*
 * A temporary file beside path (path.tmp-XXXXXX, in tmp) with exactly mode,
 * for writing: the file is written and synced under that name and only then
 * linked to path (publish), so that path never holds half a key, even if
 * the command is killed. Returns the descriptor, or -1 with a message.
 */
static int temp_beside(const char *path, mode_t mode, char *tmp, size_t size)
{
    int fd;

    if ((size_t)snprintf(tmp, size, "%s.tmp-XXXXXX", path) >= size) {
        fprintf(stderr, "clearway keys new: %s: path too long\n", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "clearway keys new: cannot create a file beside %s: %s\n", path,
                strerror(errno));
        tmp[0] = '\0';
        return -1;
    }
    /* mkstemp's mode is 0600; the CSR's is wider. */
    if (fchmod(fd, mode) != 0) {
        fprintf(stderr, "clearway keys new: cannot set the mode of %s: %s\n", tmp, strerror(errno));
        (void)close(fd);
        (void)unlink(tmp);
        tmp[0] = '\0';
        return -1;
    }
    return fd;
}

/* Gives the written temporary file tmp its name path, never over anything
 * (link fails if path exists, a symlink included), and removes tmp.
 * Returns 0 or -1 with a message. */
static int publish(const char *tmp, const char *path)
{
    int rc = 0;

    if (link(tmp, path) != 0) {
        if (errno == EEXIST) {
            fprintf(stderr, "clearway keys new: %s already exists; not overwritten\n", path);
        } else {
            fprintf(stderr, "clearway keys new: cannot create %s: %s\n", path, strerror(errno));
        }
        rc = -1;
    }
    (void)unlink(tmp);
    return rc;
}

/* Ends writing fd: written says whether every write succeeded; syncs and
 * closes fd, and reports a failure on stderr. Returns 0 or -1. */
static int fd_finish(int fd, const char *path, int written)
{
    int rc = 0;

    if (!written || fsync(fd) != 0) {
        fprintf(stderr, "clearway keys new: cannot write %s\n", path);
        rc = -1;
    }
    if (close(fd) != 0 && rc == 0) {
        fprintf(stderr, "clearway keys new: cannot write %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

static int key_write(int fd, const char *path, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    int ok;

    /* PKCS#8, unencrypted: what clearwayd and curl read without a prompt. */
    ok = bio != NULL && PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1
         && BIO_flush(bio) == 1;
    BIO_free(bio);
    return fd_finish(fd, path, ok);
}

static int csr_write(int fd, const char *path, EVP_PKEY *pkey, const char *party)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = NULL;
    int ok = 0;

    if (req == NULL || name == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)party, -1,
                                      -1, 0)
               != 1
        || X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pkey) != 1
        || X509_REQ_sign(req, pkey, EVP_sha256()) <= 0) {
        goto out;
    }
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    ok = bio != NULL && PEM_write_bio_X509_REQ(bio, req) == 1 && BIO_flush(bio) == 1;
out:
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return fd_finish(fd, path, ok);
}

static EVP_PKEY *key_make(const key_type_t *t)
{
    if (t->curve != NULL) {
        return EVP_PKEY_Q_keygen(NULL, NULL, t->alg, t->curve);
    }
    return EVP_PKEY_Q_keygen(NULL, NULL, t->alg, t->rsa_bits);
}

static int keys_new(int argc, char **argv)
{
    new_args_t a;
    cw_cli_key_info_t ki;
    EVP_PKEY *pkey = NULL;
    char key_tmp[4096] = "";
    char csr_tmp[4096] = "";
    int fd;
    int key_made = 0;
    int rc;

    rc = new_parse(&a, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc == HELP_SHOWN ? CW_CLI_OK : rc;
    }
    /* Refused before the work if either name is taken; publish checks
     * again, atomically, at the end. */
    rc = CW_CLI_IO;
    if (taken(a.out) || (a.csr != NULL && taken(a.csr))) {
        goto out;
    }
    pkey = key_make(a.type);
    if (pkey == NULL) {
        fprintf(stderr, "clearway keys new: cannot make a %s key\n", a.type->name);
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    /* Each file is written and synced under a temporary name, then named:
     * a run killed half-way leaves no KEY or CSR, only a .tmp- file. */
    fd = temp_beside(a.out, KEY_FILE_MODE, key_tmp, sizeof(key_tmp));
    if (fd < 0 || key_write(fd, key_tmp, pkey) < 0) {
        goto out;
    }
    if (a.csr != NULL) {
        fd = temp_beside(a.csr, CSR_FILE_MODE, csr_tmp, sizeof(csr_tmp));
        if (fd < 0 || csr_write(fd, csr_tmp, pkey, a.party) < 0) {
            goto out;
        }
    }
    if (publish(key_tmp, a.out) < 0) {
        goto out;
    }
    key_tmp[0] = '\0';
    key_made = 1;
    if (a.csr != NULL) {
        if (publish(csr_tmp, a.csr) < 0) {
            goto out;
        }
        csr_tmp[0] = '\0';
    }
    if (cw_cli__key_info(&ki, pkey) < 0) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    printf("%-15s %s (%s, %d bits)\n", "key", a.out, ki.type, ki.bits);
    if (a.csr != NULL) {
        printf("%-15s %s (CN=%s)\n", "csr", a.csr, a.party);
    }
    kv("pubkey-sha256", ki.spki_sha256);
    kv("pinned-pubkey", ki.pinned_pubkey);
    rc = CW_CLI_OK;
out:
    /* Only what this run created is removed. */
    if (key_tmp[0] != '\0') {
        (void)unlink(key_tmp);
    }
    if (csr_tmp[0] != '\0') {
        (void)unlink(csr_tmp);
    }
    if (rc != CW_CLI_OK && key_made) {
        (void)unlink(a.out);
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* ==== keys show ==== */

static void show_usage(FILE *f)
{
    fputs("usage: clearway keys show FILE\n"
          "\n"
          "FILE (\"-\" reads stdin) is a PEM certificate (the first of a chain), a\n"
          "private key or a public key. For a certificate, prints subject and issuer\n"
          "(RFC 2253, as tls-subject takes them), serial, not-before and not-after\n"
          "(RFC 3339 UTC), days left, the key, tls-fingerprint (the SHA-256 of the\n"
          "certificate, to paste into a partner's tls-fingerprint), and the\n"
          "public-key fingerprints; for a key, its type, size and fingerprints.\n"
          "pinned-pubkey is in the form a route's pinned-pubkey takes.\n"
          "Exit: 0 shown, 2 usage, 3 unreadable file or no certificate or key in it.\n",
          f);
}

static void key_lines(const cw_cli_key_info_t *ki)
{
    printf("%-15s %s, %d bits%s\n", "key", ki->type, ki->bits,
           ki->accepted ? "" : " (not accepted by clearwayd: " CW_CLI_KEYS_ACCEPTED ")");
    kv("pubkey-sha256", ki->spki_sha256);
    kv("pinned-pubkey", ki->pinned_pubkey);
}

static int keys_show(int argc, char **argv)
{
    cw_cli_cert_info_t ci;
    cw_cli_key_info_t ki;
    cw_error_t err;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int kind;
    int rc = CW_CLI_IO;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        show_usage(stdout);
        return CW_CLI_OK;
    }
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0')) {
        show_usage(stderr);
        return CW_CLI_USAGE;
    }
    cw_error_clear(&err);
    kind = cw_cli__pem_load(argv[1], CW_CLI_PEM_CERT | CW_CLI_PEM_KEY | CW_CLI_PEM_PUBKEY, &cert,
                            &key, &err);
    if (kind < 0) {
        fprintf(stderr, "clearway keys show: %s\n", err.msg);
        goto out;
    }
    if (cert != NULL) {
        if (cw_cli__cert_info(&ci, cert, &err) < 0) {
            fprintf(stderr, "clearway keys show: %s: %s\n", argv[1], err.msg);
            goto out;
        }
        kv("certificate", argv[1]);
        kv("subject", ci.subject);
        if (ci.subject_cut) {
            fprintf(stderr,
                    "clearway keys show: %s: the subject is longer than %zu bytes and was cut; "
                    "it cannot be a tls-subject either (identify the partner by "
                    "tls-fingerprint)\n",
                    argv[1], sizeof(ci.subject) - 1);
        }
        kv("issuer", ci.issuer);
        kv("serial", ci.serial);
        kv("not-before", ci.not_before);
        kv("not-after", ci.not_after);
        printf("%-15s %lld\n", "days-left",
               (long long)cw_cli__days_left(ci.not_after_s, cw_time_wall_s()));
        kv("tls-fingerprint", ci.sha256);
        key_lines(&ci.key);
        rc = CW_CLI_OK;
        goto out;
    }
    if (cw_cli__key_info(&ki, key) < 0) {
        fprintf(stderr, "clearway keys show: %s: cannot encode the key\n", argv[1]);
        goto out;
    }
    printf("%-15s %s\n", kind == CW_CLI_PEM_KEY ? "private-key" : "public-key", argv[1]);
    key_lines(&ki);
    rc = CW_CLI_OK;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

/* ==== keys check ==== */

static void check_usage(FILE *f)
{
    fputs("usage: clearway keys check --key KEY.pem --cert CERT.pem\n"
          "\n"
          "Checks that KEY.pem is the private key of the certificate CERT.pem (the\n"
          "first of a chain), as clearwayd does for a node's key and cert.\n"
          "Prints \"match\" or \"mismatch\" and both public-key fingerprints.\n"
          "Exit: 0 they match, 1 they do not, 2 usage, 3 unreadable file.\n",
          f);
}

static int keys_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "key", required_argument, NULL, 'k' },
        { "cert", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *key_path = NULL;
    const char *cert_path = NULL;
    cw_cli_key_info_t kk;
    cw_cli_key_info_t ck;
    cw_error_t err;
    X509 *cert = NULL;
    X509 *unused = NULL;
    EVP_PKEY *key = NULL;
    EVP_PKEY *none = NULL;
    int c;
    int rc = CW_CLI_IO;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_path = optarg;
            break;
        case 'c':
            cert_path = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return CW_CLI_OK;
        default:
            check_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc || key_path == NULL || cert_path == NULL) {
        check_usage(stderr);
        return CW_CLI_USAGE;
    }
    cw_error_clear(&err);
    if (cw_cli__pem_load(key_path, CW_CLI_PEM_KEY, &unused, &key, &err) < 0
        || cw_cli__pem_load(cert_path, CW_CLI_PEM_CERT, &cert, &none, &err) < 0) {
        fprintf(stderr, "clearway keys check: %s\n", err.msg);
        goto out;
    }
    if (cw_cli__key_info(&kk, key) < 0 || X509_get0_pubkey(cert) == NULL
        || cw_cli__key_info(&ck, X509_get0_pubkey(cert)) < 0) {
        fprintf(stderr, "clearway keys check: %s: undecodable public key\n", cert_path);
        goto out;
    }
    if (EVP_PKEY_eq(key, X509_get0_pubkey(cert)) == 1) {
        printf("match %s is the key of %s\n", key_path, cert_path);
        rc = CW_CLI_OK;
    } else {
        printf("mismatch %s is not the key of %s\n", key_path, cert_path);
        rc = CW_CLI_INVALID;
    }
    kv("key-pubkey", kk.spki_sha256);
    kv("cert-pubkey", ck.spki_sha256);
out:
    X509_free(cert);
    X509_free(unused);
    EVP_PKEY_free(key);
    EVP_PKEY_free(none);
    ERR_clear_error();
    return rc;
}

/* ==== Dispatch ==== */

int cw_cli_keys(int argc, char **argv)
{
    if (argc < 2) {
        keys_usage(stderr);
        return CW_CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        keys_usage(stdout);
        return CW_CLI_OK;
    }
    if (strcmp(argv[1], "new") == 0) {
        return keys_new(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "show") == 0) {
        return keys_show(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "check") == 0) {
        return keys_check(argc - 1, argv + 1);
    }
    fprintf(stderr, "clearway keys: unknown subcommand '%s'\n", argv[1]);
    keys_usage(stderr);
    return CW_CLI_USAGE;
}
