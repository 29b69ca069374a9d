#include "config.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vr-sched.h"

int vr_sched_setattr(pid_t tid, const struct vr_sched_attr *attr) {
        struct vr_sched_attr a = *attr;
        a.size = sizeof(a);
        return syscall(SYS_sched_setattr, tid, &a, 0) < 0 ? -errno : 0;
}
