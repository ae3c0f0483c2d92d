#!/usr/bin/env python3
"""Per-thread CPU and context switches of running processes, for bench/thread-cpu.sh.

usage: thread_cpu.py snap <out.json> <pid>...          one snapshot of every thread of each pid
       thread_cpu.py diff <a.json> <b.json> <messages>  what each thread group spent in between

Threads are grouped by name with digits folded (stomp-relay-outbound-3 -> stomp-relay-outbound-N).
CPU is user + system time from /proc/<pid>/task/<tid>/stat (clock ticks of 1/100 s), the system
part shown apart; context switches are the voluntary ones from .../status (a thread that parks to
wait for work and is woken again counts one).
"""
import collections
import json
import os
import re
import sys

TICK = os.sysconf("SC_CLK_TCK")


def snap(pid):
    cpu, sys_cpu, switches = collections.Counter(), collections.Counter(), collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:  # the thread ended meanwhile
            continue
        name = re.sub(r"\d+", "N", stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2:].split()
        cpu[name] += int(fields[11]) + int(fields[12])
        sys_cpu[name] += int(fields[12])
        switches[name] += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return {"cpu": cpu, "sys": sys_cpu, "switches": switches}


def diff(before, after, messages):
    for pid, b in after.items():
        a = before.get(pid, {"cpu": {}, "sys": {}, "switches": {}})
        rows = sorted(((b["cpu"][k] - a["cpu"].get(k, 0), b["sys"].get(k, 0) - a["sys"].get(k, 0),
                        b["switches"].get(k, 0) - a["switches"].get(k, 0), k) for k in b["cpu"]), reverse=True)
        total = sum(r[0] for r in rows)
        switches = sum(r[2] for r in rows)
        per = lambda ticks: ticks / TICK * 1e6 / messages
        print(f"pid {pid}: {per(total):.1f} µs CPU and {switches / messages:.2f} context switches per message")
        for ticks, sys_ticks, sw, name in rows[:8]:
            if ticks > 0:
                print(f"    {name:32s} {per(ticks):6.1f} µs (system {per(sys_ticks):5.1f})  {sw / messages:5.2f} switches")


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        json.dump({pid: snap(pid) for pid in sys.argv[3:]}, open(sys.argv[2], "w"))
    else:
        diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4]))
