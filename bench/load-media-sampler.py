#!/usr/bin/env python3
"""Samples of a media load run (bench/run-load.sh with --media), and their summary.

  load-media-sampler.py sample OUT N NODE_PID NODE_ADMIN TOOL_PID SIPP_PID
      every 2 s until TOOL_PID exits, one row of OUT/node-samples-N.csv: CPU ticks (utime+stime, all
      threads) of the node's JVM, the load tool's JVM and SIPp; the node's RSS and threads; its media
      sessions and SIP calls (full /health on the node's admin port NODE_ADMIN); the machine's busy and total ticks (/proc/stat); UDP receive-buffer
      drops (/proc/net/udp) by socket owner (node, tool, SIPp) and the namespace's Udp RcvbufErrors.
  load-media-sampler.py summary OUT NODES PROCS
      for each node, over the plateau (every sample with >= 98 % of the most media sessions): calls held,
      CPU % of one core and RSS of the node, per call; the tool's, SIPp's and the machine's CPU; drops.
"""
import csv
import json
import os
import sys
import time
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
FIELDS = ["t_ms", "node_ticks", "rss_kb", "threads", "media_sessions", "sip_calls", "tool_ticks", "sipp_ticks",
          "machine_busy", "machine_total", "drops_node", "drops_tool", "drops_sipp", "drops_other", "rcvbuf_errors"]


def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return 0


def status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def inodes(pid):
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(link[8:-1])
    except OSError:
        pass
    return out


def udp_drops(owners):
    """Drops of every UDP socket, summed by owner name ("other" when no given process holds it)."""
    sums = {name: 0 for name in owners}
    sums["other"] = 0
    sets = {name: inodes(pid) for name, pid in owners.items()}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    inode, drops = cols[9], int(cols[-1])
                    owner = next((n for n, s in sets.items() if inode in s), "other")
                    sums[owner] += drops
        except OSError:
            pass
    return sums


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Udp:")]
    head, vals = lines[0], lines[1]
    return int(vals[head.index("RcvbufErrors")])


def machine():
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    return sum(cpu) - idle, sum(cpu)


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            h = json.load(r)
        return h["media"]["sessions"], h["sip"]["calls"]
    except Exception:
        return "-", "-"


def sample(out, n, node_pid, node_admin, tool_pid, sipp_pid):
    path = f"{out}/node-samples-{n}.csv"
    owners = {"node": node_pid, "tool": tool_pid, "sipp": sipp_pid}
    if node_pid == tool_pid:  # in-process: the node is the tool's JVM
        owners.pop("tool")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        while os.path.exists(f"/proc/{tool_pid}"):
            sessions, calls = health(node_admin)
            busy, total = machine()
            d = udp_drops(owners)
            w.writerow([int(time.time() * 1000), ticks(node_pid), status(node_pid, "VmRSS"), status(node_pid, "Threads"),
                        sessions, calls, ticks(tool_pid), ticks(sipp_pid), busy, total, d["node"], d.get("tool", 0),
                        d["sipp"], d["other"], rcvbuf_errors()])
            f.flush()
            time.sleep(2)


def summary(out, nodes, procs):
    s = json.load(open(f"{out}/summary.json"))
    m = s.get("media") or {}
    print(f"load: completed={s['completed']} failed={s['failed']} {s['failedByReason']} cut={s['cut']} "
          f"media sent={m.get('sent')} echoed={m.get('received')} loss={m.get('lossPct')}% "
          f"worst call={m.get('callLossPct', {}).get('max')}% audio setup p50={m.get('setupMs', {}).get('p50')} ms")
    for n in range(1, nodes + 1):
        rows = [r for r in csv.DictReader(open(f"{out}/node-samples-{n}.csv")) if r["media_sessions"] not in ("-", "")]
        if not rows:
            print(f"node {n}: no samples")
            continue
        held = max(int(r["media_sessions"]) for r in rows)
        idle = [int(r["rss_kb"]) for r in rows if int(r["media_sessions"]) == 0]
        idle_rss = idle[0] if idle else 0
        top = [r for r in rows if held > 0 and int(r["media_sessions"]) >= 0.98 * held]
        who = "node process" if procs else "load tool's JVM = in-process node + synthetic browsers"
        if len(top) < 2:
            print(f"node {n} ({who}): held {held}, plateau too short to measure")
            continue
        a, b = top[0], top[-1]
        dt = (int(b["t_ms"]) - int(a["t_ms"])) / 1000

        def pct(key):
            return 100.0 * (int(b[key]) - int(a[key])) / CLK / dt

        def delta(key):
            return int(b[key]) - int(a[key])

        cpu = pct("node_ticks")
        rss = sum(int(r["rss_kb"]) for r in top) / len(top)
        busy = 100.0 * delta("machine_busy") / max(1, delta("machine_total"))
        print(f"node {n} ({who}): held {held} media sessions (sip calls {max(int(r['sip_calls']) for r in top)}) "
              f"for {dt:.0f} s: CPU {cpu:.1f} % of a core = {cpu / held:.3f} %/call; RSS {rss / 1024:.0f} MB "
              f"(idle {idle_rss / 1024:.0f} MB) = {(rss - idle_rss) / held:.0f} kB/call; "
              f"threads {max(int(r['threads']) for r in top)}")
        print(f"  same window: load tool {pct('tool_ticks'):.1f} %, SIPp {pct('sipp_ticks'):.1f} % of a core; "
              f"machine busy {busy:.0f} % of {os.cpu_count()} cores; UDP drops node {delta('drops_node')} "
              f"tool {delta('drops_tool')} SIPp {delta('drops_sipp')} other {delta('drops_other')} "
              f"(RcvbufErrors {delta('rcvbuf_errors')})")
        try:
            c = json.load(open(f"{out}/health-{n}-after.json"))["media"]["counters"]
            print(f"  relay counters: browserIn {c['browserIn']} (+early {c['browserEarly']}) toPbx {c['toPbx']} "
                  f"pbxIn {c['pbxIn']} toBrowser {c['toBrowser']} sendFailed {c['sendFailed']}")
        except (OSError, KeyError, ValueError):
            pass


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    else:
        summary(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
