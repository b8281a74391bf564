// Atomics and futexes on words that live in memory shared between processes, for the same-host data path
// (Transport/SharedMemoryRing.swift). Swift's own atomics need a stored property; these work on any address.
#pragma once
#include <stdint.h>
#include <errno.h>
#include <time.h>
#ifdef __linux__
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static inline uint32_t cohort_shm_load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void cohort_shm_store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

static inline void cohort_shm_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// 1 where futexes exist (shared, not private: they must work across processes).
static inline int cohort_shm_supported(void) {
#ifdef __linux__
    return 1;
#else
    return 0;
#endif
}

/// Sleeps while *p == expected, at most timeout_ns. 0 on wake-up, else errno (ETIMEDOUT, EAGAIN: value changed).
static inline int cohort_shm_wait(uint32_t *p, uint32_t expected, int64_t timeout_ns) {
#ifdef __linux__
    struct timespec ts = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    long r = syscall(SYS_futex, p, FUTEX_WAIT, expected, &ts, (void *)0, 0);
    return r == 0 ? 0 : errno;
#else
    (void)p; (void)expected; (void)timeout_ns;
    return ENOSYS;
#endif
}

/// Wakes every waiter on p.
static inline void cohort_shm_wake(uint32_t *p) {
#ifdef __linux__
    syscall(SYS_futex, p, FUTEX_WAKE, 0x7fffffff, (void *)0, (void *)0, 0);
#else
    (void)p;
#endif
}

/// A file in `dir` (tmpfs) with no name yet, 0600: a ring made ahead of need leaves nothing behind if the process
/// dies before it is offered. The fd, or -1 with errno (EOPNOTSUPP, EISDIR: no O_TMPFILE here).
static inline int cohort_shm_open_unnamed(const char *dir) {
#if defined(__linux__) && (defined(O_TMPFILE) || defined(__O_TMPFILE))
#ifdef O_TMPFILE
    return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#else
    return open(dir, __O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);  // O_TMPFILE itself needs _GNU_SOURCE
#endif
#else
    (void)dir;
    errno = ENOSYS;
    return -1;
#endif
}

/// Gives the unnamed file `fd` the name `path` (through /proc/self/fd, which needs no capability). 0, or errno.
static inline int cohort_shm_link_unnamed(int fd, const char *path) {
#ifdef __linux__
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
#else
    (void)fd; (void)path;
    return ENOSYS;
#endif
}

/// mmap's flag that maps every page at once (0 where there is none).
static inline int cohort_shm_map_populate(void) {
#ifdef MAP_POPULATE
    return MAP_POPULATE;
#else
    return 0;
#endif
}

/// Maps `len` bytes at `addr` (page-aligned) writable now, without changing them: madvise(MADV_POPULATE_WRITE),
/// Linux 5.14 and later. 0, or errno (EINVAL on an older kernel: the pages then fault in on first use).
static inline int cohort_shm_populate_write(void *addr, size_t len) {
#ifdef __linux__
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    return madvise(addr, len, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
#else
    (void)addr; (void)len;
    return ENOSYS;
#endif
}
