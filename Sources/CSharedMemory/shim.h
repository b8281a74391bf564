// Atomics and futexes on words that live in memory shared between processes, for the same-host data path
// (Transport/SharedMemoryRing.swift). Swift's own atomics need a stored property; these work on any address.
#pragma once
#include <stdint.h>
#include <errno.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
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
