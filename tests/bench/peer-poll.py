#!/usr/bin/env python3
"""peer-poll.py: what a user writes instead of virt-router-tune.

The peer of bench-tune.sh: a polling loop, as an operator would write it without
the tuner. Every INTERVAL ms it lists /proc/PID/task, reads the name of each thread
it has not handled yet, and gives each one whose name starts with PREFIX its CPUs
and SCHED_FIFO priority (os.sched_setaffinity, os.sched_setscheduler: the calls
taskset and chrt make, without forking them). It forgets threads that have gone,
so that a reused thread id is handled again, and exits when PID does.

It is written to be fair to the peer: the standard library only, no fork per
thread, the names of handled threads not read again. It moves no thread into a
cgroup: in the bench the threads are born in the root cpu cgroup, where FIFO is
allowed, so a user would not (see virt-router-tune(8) for libvirt's groups).

Usage: peer-poll.py --pid PID --interval-ms N --cpus LIST --fifo PRIO [--prefix P]
"""
import argparse
import os
import sys
import time


def cpu_list(text):
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--interval-ms", type=float, required=True)
    ap.add_argument("--cpus", type=cpu_list, required=True)
    ap.add_argument("--fifo", type=int, required=True)
    ap.add_argument("--prefix", default="vhost-")
    a = ap.parse_args()

    task_dir = "/proc/%d/task" % a.pid
    param = os.sched_param(a.fifo)
    handled = set()
    while True:
        try:
            tids = os.listdir(task_dir)
        except FileNotFoundError:
            return 0  # the process exited
        handled.intersection_update(tids)
        for tid in tids:
            if tid in handled:
                continue
            try:
                with open("%s/%s/comm" % (task_dir, tid)) as f:
                    name = f.read().rstrip("\n")
                if not name.startswith(a.prefix):
                    continue  # not (yet) named as a worker: look again next time
                os.sched_setaffinity(int(tid), a.cpus)
                os.sched_setscheduler(int(tid), os.SCHED_FIFO, param)
                handled.add(tid)
            except ProcessLookupError:
                pass  # gone meanwhile
            except FileNotFoundError:
                pass
            except OSError as e:
                print("peer-poll: thread %s: %s" % (tid, e), file=sys.stderr)
        time.sleep(a.interval_ms / 1000.0)


if __name__ == "__main__":
    sys.exit(main())
