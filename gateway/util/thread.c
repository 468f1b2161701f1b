/*
 * Thread names, so that an operator's `top -H`, `ps -L` and perf tell the
 * node's threads apart (the loop, the workers, the store's writer, reader
 * and checkpointer). Linux only; elsewhere a no-op.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#endif
#include <string.h>

#include "util.h"

void cw_thread_name_set(const char *name)
{
#if defined(__linux__)
    char buf[16]; /* the kernel keeps 15 bytes and the terminator */

    (void)cw_strlcpy(buf, name, sizeof(buf));
    (void)pthread_setname_np(pthread_self(), buf);
#else
    (void)name;
#endif
}
