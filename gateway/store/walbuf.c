/*
 * The writer's WAL writes, gathered: a VFS over SQLite's default one that
 * holds the writes SQLite makes to a WAL file and hands them to the file
 * together, before anything can need them in it.
 *
 * Why: SQLite writes each WAL frame with two write calls, its 24-byte
 * header and then its page. An intake commit is about 25 frames, so 50
 * pwrite system calls before its fsync, each one a point where the writer
 * can lose its core to a worker. Gathered, a commit is one or two pwrites
 * and its fsync: COMMIT went from 0.65-0.69 to 0.51-0.52 ms in the ingest
 * benchmark (bench/README.md).
 *
 * Why it is safe, and only with synchronous=FULL:
 * - with FULL, SQLite syncs the WAL (xSync) at the end of every commit
 *   before it appends the commit's frames to the wal-index, which is what
 *   makes them visible to other connections (the reader, the
 *   checkpointer). Everything held is written at xSync, so nothing is
 *   visible before it is in the file. With NORMAL there is no xSync per
 *   commit, so the store opens without this VFS (cw_store__sqlite_db_open);
 * - the writer's own connection reads its WAL only through this file
 *   object: every read, size query, truncation, file control and close
 *   writes what is held first;
 * - a crash loses what is held exactly as it would lose writes the
 *   process had not yet made: the commit was not synced, so not
 *   acknowledged, and the WAL's checksums end recovery at the last whole
 *   commit either way;
 * - only writes that continue the held run are gathered; any other
 *   offset (SQLite rewriting a frame, the WAL starting over at its header)
 *   writes what is held first, so writes reach the file in their order.
 * The main database file and everything else pass straight through.
 *
 * A second VFS, "clearway-timed", is the same without the gathering: the
 * checkpointer's connection opens with it. Through either one every xSync
 * is timed, by file (the WAL or the database), for the
 * clearway_store_sync_seconds histogram: each one is a cache flush of the
 * disk, and on the benchmark's virtual disk they set most of the commit
 * stage's p99 (bench/README.md, "The fsyncs"). Under
 * synchronous=NORMAL the writer opens with neither, so its few syncs (a
 * new WAL's header, its own checkpoints, the one at close) are not
 * counted; the checkpointer's are.
 *
 * The sync of a commit, deferred: while the writer thread runs COMMIT
 * between cw_store__walbuf_defer_begin and _end, a sync of its gathered
 * WAL writes what is held and returns without flushing the disk; the
 * store's syncer thread then flushes the file through a descriptor of its
 * own (cw_store__walbuf_fdatasync) before any request of that commit is
 * answered, while the writer runs the next group (sqlite.c, "The
 * syncer"). Written is all SQLite needs to make the commit visible; its
 * durability is the syncer's. Only a WAL that has been synced once for
 * real defers: SQLite's first sync of a new file also syncs its
 * directory, which the syncer's flush would not. Nor does the sync that
 * follows a new header (the WAL starting over at offset 0): SQLite syncs
 * that header before it writes the first frame after it, so that the new
 * frames, overwriting the old ones, cannot reach the disk while the old
 * header still does; after a power cut the old header would then take a
 * valid prefix of the old frames for the log and bring back pages the
 * database had already moved past (SQLite's ticket ff5be73dee). Every
 * other sync, the checkpoints' above all, flushes as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* SQLite's unix VFS writes at most 0x1ffff bytes per call (it masks the
 * length), so a run stops short of that: 31 frames of 4 KiB pages. */
#define WB_CAP ((size_t)127 * 1024)

typedef struct wb_file {
    sqlite3_file base;  /* pMethods = &wb_methods */
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    int is_wal;
    int gather; /* a WAL opened through wb_vfs: its writes are gathered */
    char *buf;  /* the held run, WB_CAP bytes (sqlite3_malloc64), NULL until needed */
    size_t len;
    sqlite3_int64 off; /* where the held run starts in the file */
    int sync_fd;       /* the gathered WAL opened again read-only, for the syncer; -1 if not */
    int synced;        /* a sync went to the file: later ones may be deferred */
    int header;        /* the WAL's header (offset 0) was written since the last sync */
} wb_file_t;

_Static_assert(sizeof(wb_file_t) % 8 == 0, "the real file after wb_file_t stays aligned");

static sqlite3_vfs wb_vfs; /* gathers a WAL's writes, times syncs */
static sqlite3_vfs wt_vfs; /* times syncs only */
static sqlite3_vfs *wb_real;
static int wb_registered;
static int wt_registered;
static atomic_uint_fast64_t wb_writes_in;  /* WAL writes SQLite made */
static atomic_uint_fast64_t wb_writes_out; /* writes handed to the file */
/* The calling thread's COMMIT defers its WAL syncs; one was deferred. */
static _Thread_local int wb_defer;
static _Thread_local int wb_deferred;

const uint64_t cw_store_sync_bounds_ns[CW_STORE_SYNC_BUCKETS] = {
    100000,   250000,   500000,   1000000,   2500000,   5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 1000000000,
};

/* Syncs by kind and bucket (the last one: above every bound), and their
 * time; process-wide, as the VFS is. */
static atomic_uint_fast64_t wb_sync_n[CW_STORE_SYNC_KINDS][CW_STORE_SYNC_BUCKETS + 1];
static atomic_uint_fast64_t wb_sync_ns[CW_STORE_SYNC_KINDS];

size_t cw_store__sync_bucket(uint64_t ns)
{
    size_t i = 0;

    while (i < CW_STORE_SYNC_BUCKETS && ns > cw_store_sync_bounds_ns[i]) {
        i++;
    }
    return i;
}

static void sync_record(int kind, uint64_t ns)
{
    atomic_fetch_add_explicit(&wb_sync_n[kind][cw_store__sync_bucket(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&wb_sync_ns[kind], ns, memory_order_relaxed);
}

static int real_write(wb_file_t *p, const void *data, size_t len, sqlite3_int64 off)
{
    atomic_fetch_add_explicit(&wb_writes_out, 1, memory_order_relaxed);
    return p->real->pMethods->xWrite(p->real, data, (int)len, off);
}

/* Writes the held run, if any. */
static int wb_flush(wb_file_t *p)
{
    size_t len = p->len;

    if (len == 0) {
        return SQLITE_OK;
    }
    p->len = 0;
    return real_write(p, p->buf, len, p->off);
}

static int wb_close(sqlite3_file *f)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);
    int rc2 = p->real->pMethods->xClose(p->real);

    if (p->sync_fd >= 0) {
        (void)close(p->sync_fd);
        p->sync_fd = -1;
    }
    sqlite3_free(p->buf);
    p->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xRead(p->real, data, amt, off);
}

static int wb_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    wb_file_t *p = (wb_file_t *)f;
    size_t n = amt > 0 ? (size_t)amt : 0;
    int rc;

    if (!p->gather) {
        return p->real->pMethods->xWrite(p->real, data, amt, off);
    }
    if (off == 0) {
        p->header = 1;
    }
    atomic_fetch_add_explicit(&wb_writes_in, 1, memory_order_relaxed);
    if (p->len > 0 && off == p->off + (sqlite3_int64)p->len && n <= WB_CAP - p->len) {
        memcpy(p->buf + p->len, data, n);
        p->len += n;
        return SQLITE_OK;
    }
    rc = wb_flush(p);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (p->buf == NULL) {
        p->buf = sqlite3_malloc64(WB_CAP);
    }
    if (p->buf == NULL || n == 0 || n > WB_CAP) {
        /* Out of memory, or nothing to gain: the write as it came. */
        return real_write(p, data, n, off);
    }
    memcpy(p->buf, data, n);
    p->len = n;
    p->off = off;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xTruncate(p->real, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);
    uint64_t t0;

    if (rc != SQLITE_OK) {
        return rc;
    }
    if (wb_defer && p->gather && p->synced && !p->header && p->sync_fd >= 0) {
        wb_deferred = 1;
        return SQLITE_OK;
    }
    t0 = cw_time_mono_ns();
    rc = p->real->pMethods->xSync(p->real, flags);
    sync_record(p->is_wal ? CW_STORE_SYNC_WAL : CW_STORE_SYNC_DATABASE, cw_time_mono_ns() - t0);
    if (rc == SQLITE_OK) {
        p->synced = 1;
        p->header = 0;
    }
    return rc;
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileSize(p->real, size);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileControl(p->real, op, arg);
}

/* ==== Passed through ==== */

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((wb_file_t *)f)->real;
}

static int wb_lock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xLock(real_of(f), lock);
}

static int wb_unlock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_device(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int wb_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int wb_shm_unmap(sqlite3_file *f, int del)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc = wb_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xFetch(p->real, off, amt, pp);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *ptr)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, ptr);
}

/* Version 3, as the unix VFS's files; the store refuses another (below). */
static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    wb_file_t *p = (wb_file_t *)f;
    int rc;

    memset(p, 0, sizeof(*p));
    p->sync_fd = -1;
    p->real = (sqlite3_file *)(p + 1);
    rc = wb_real->xOpen(wb_real, name, p->real, flags, out);
    /* SQLite closes a file whose pMethods is set, even after an error. */
    if (p->real->pMethods != NULL) {
        if (p->real->pMethods->iVersion < 3) {
            (void)p->real->pMethods->xClose(p->real);
            return SQLITE_CANTOPEN;
        }
        p->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
        p->gather = p->is_wal && vfs == &wb_vfs;
        /* SQLite hands xOpen the full path. Without this descriptor
         * nothing is deferred: every sync flushes as it comes. SQLite
         * takes no POSIX lock on a WAL file, so closing it drops none. */
        if (rc == SQLITE_OK && p->gather && name != NULL) {
            p->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
        }
        p->base.pMethods = &wb_methods;
    }
    return rc;
}

static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
    (void)vfs;
    return wb_real->xDelete(wb_real, name, sync);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return wb_real->xAccess(wb_real, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return wb_real->xFullPathname(wb_real, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return wb_real->xDlOpen(wb_real, name);
}

static void wb_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    wb_real->xDlError(wb_real, n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return wb_real->xDlSym(wb_real, h, sym);
}

static void wb_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    wb_real->xDlClose(wb_real, h);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return wb_real->xRandomness(wb_real, n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return wb_real->xSleep(wb_real, us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return wb_real->xCurrentTime(wb_real, out);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return wb_real->xGetLastError(wb_real, n, out);
}

static int wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return wb_real->xCurrentTimeInt64(wb_real, out);
}

static void wb_register(void)
{
    wb_real = sqlite3_vfs_find(NULL);
    if (wb_real == NULL || wb_real->iVersion < 2 || wb_real->xCurrentTimeInt64 == NULL) {
        return;
    }
    memset(&wb_vfs, 0, sizeof(wb_vfs));
    wb_vfs.iVersion = 2;
    wb_vfs.szOsFile = (int)sizeof(wb_file_t) + wb_real->szOsFile;
    wb_vfs.mxPathname = wb_real->mxPathname;
    wb_vfs.zName = CW_STORE__WALBUF_VFS;
    wb_vfs.xOpen = wb_open;
    wb_vfs.xDelete = wb_delete;
    wb_vfs.xAccess = wb_access;
    wb_vfs.xFullPathname = wb_full_pathname;
    wb_vfs.xDlOpen = wb_dl_open;
    wb_vfs.xDlError = wb_dl_error;
    wb_vfs.xDlSym = wb_dl_sym;
    wb_vfs.xDlClose = wb_dl_close;
    wb_vfs.xRandomness = wb_randomness;
    wb_vfs.xSleep = wb_sleep;
    wb_vfs.xCurrentTime = wb_current_time;
    wb_vfs.xGetLastError = wb_last_error;
    wb_vfs.xCurrentTimeInt64 = wb_current_time64;
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
    wt_vfs = wb_vfs;
    wt_vfs.zName = CW_STORE__TIMED_VFS;
    wt_registered = sqlite3_vfs_register(&wt_vfs, 0) == SQLITE_OK;
}

const char *cw_store__walbuf_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    (void)pthread_once(&once, wb_register);
    return wb_registered ? CW_STORE__WALBUF_VFS : NULL;
}

const char *cw_store__timed_vfs(void)
{
    (void)cw_store__walbuf_vfs();
    return wt_registered ? CW_STORE__TIMED_VFS : NULL;
}

void cw_store__sync_stats(cw_store_stats_t *out)
{
    for (size_t k = 0; k < CW_STORE_SYNC_KINDS; k++) {
        uint64_t n = 0;

        for (size_t i = 0; i <= CW_STORE_SYNC_BUCKETS; i++) {
            uint64_t b = (uint64_t)atomic_load(&wb_sync_n[k][i]);

            if (i < CW_STORE_SYNC_BUCKETS) {
                out->sync_buckets[k][i] = b;
            }
            n += b;
        }
        out->sync_count[k] = n;
        out->sync_ns[k] = (uint64_t)atomic_load(&wb_sync_ns[k]);
    }
}

int cw_store__walbuf_sync_fd(sqlite3 *db)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK || f == NULL
        || f->pMethods != &wb_methods) {
        return -1;
    }
    return ((wb_file_t *)f)->sync_fd;
}

void cw_store__walbuf_defer_begin(void)
{
    wb_defer = 1;
    wb_deferred = 0;
}

void cw_store__walbuf_defer_pause(void)
{
    wb_defer = 0;
}

int cw_store__walbuf_defer_end(void)
{
    int deferred = wb_deferred;

    wb_defer = 0;
    wb_deferred = 0;
    return deferred;
}

int cw_store__walbuf_fdatasync(int fd)
{
    uint64_t t0 = cw_time_mono_ns();
    int rc;

    do {
        rc = fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        return -errno;
    }
    sync_record(CW_STORE_SYNC_WAL, cw_time_mono_ns() - t0);
    return 0;
}

void cw_store__walbuf_counts(uint64_t *writes_in, uint64_t *writes_out)
{
    *writes_in = (uint64_t)atomic_load(&wb_writes_in);
    *writes_out = (uint64_t)atomic_load(&wb_writes_out);
}
