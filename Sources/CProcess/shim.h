#ifndef COHORT_CPROCESS_SHIM_H
#define COHORT_CPROCESS_SHIM_H
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/// Asks the kernel to send SIGKILL to this process when the thread that started it exits (a launcher that crashed
/// or was killed with SIGKILL leaves no worker holding its ports). SIGKILL, not SIGTERM: a process started from a
/// thread that blocks signals (a test runner's, a dispatch queue's) inherits that mask, and a blocked SIGTERM
/// would stay pending forever. Returns 0 while the parent is still `expected`,
/// 1 when it is gone already (it exited before the request took effect), -1 where the OS cannot do this.
static inline int cohort_exit_with_parent(pid_t expected) {
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -1;
    return getppid() == expected ? 0 : 1;
#else
    (void)expected;
    return -1;
#endif
}
#endif
