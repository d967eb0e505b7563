#!/usr/bin/env python3
"""An adversarial pass over the concur binary (issue 16's figures, for its private-file, stop,
input and memory parts). Not a test: it prints counts, and the commands behind them.

Usage: scripts/adversarial.py [inputs] [signals] [kill9] [perms]   (default: all four)
Env:   CONCUR=path/to/concur (default: target/debug/concur)
       TRIALS=N   signal trials per (strategy, signal, delay) (default 2)

- inputs:  malformed or machine-exhausting invocations; each must exit 2 with one error line,
           no panic, within 20 s. Queue inputs run with REDIS_URL=redis://127.0.0.1:1 (nothing
           listens there), so an input that got through would fail otherwise.
- signals: `run -s S -w sleep --items 2000 --wait-ms 20 --workers 4 --json` stopped by SIGINT
           (to the process group) or SIGTERM (to concur) after 0.3, 0.6 or 1.2 s. Clean means:
           exit 130/143 within 10 s of the signal, JSON with jobs + jobs_not_started = items,
           some jobs not started (the run is stopped long before its 10 s) and 0 failed, no
           process with the run's tag left, its TMPDIR empty.
- kill9:   the harness SIGKILLed mid-run: its processes must die, and the next run must remove
           the concur-run-* dir it left.
- perms:   the modes of everything under TMPDIR during a run (dirs 0700, files no group/other
           bits; sockets 0700 or less).
"""
import json, os, signal, stat, subprocess, sys, tempfile, time

CONCUR = os.environ.get("CONCUR", "target/debug/concur")
TRIALS = int(os.environ.get("TRIALS", "2"))
TAG = "CONCUR_ADVERSARIAL_TAG"


def tagged(tag):
    """Pids of live processes whose environment carries TAG=tag."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    with open(f"/proc/{pid}/stat") as s:
                        if s.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                            found.append(int(pid))
        except OSError:
            pass
    return found


def inputs():
    bad_env = {"REDIS_URL": "redis://127.0.0.1:1"}
    cases = []
    for at in ["inf", "+inf", "-inf", "infinity", "NaN", "nan", "1e308", "1e309", "1e18", "-5",
               "-0.5", "18446744073709551616", "-9223372036854775808", "", " ", "@", "@@1",
               "0x10", "1_000", "tomorrow", "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z",
               "2026-01-01T25:61:99Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
               "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
               "2026-01-01TNaN:00Z", "9223372036854775807-01-01T00:00:00Z",
               "10000-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "-2026-01-01T00:00:00Z",
               "2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00Q"]:
        cases.append((["enqueue", "-w", "noop", "--items", "1", f"--at={at}"], bad_env))
    leak = ["--fault", "leak", "--every", "1", "--leak-mb", "4096"]
    for s in ["threads", "pool", "rayon", "actors", "futures", "sequential", "prefork", "rpc",
              "sqlite", "sqlite-fork", "delayed-job", "sucker-punch"]:
        w = [] if s in ("threads", "sequential") else ["--workers", "2"]
        cases.append((["run", "-s", s, "-w", "noop", "--items", "100"] + w + leak, {}))
    for s in ["fork", "resque"]:
        cases.append((["run", "-s", s, "-w", "noop", "--items", "100", "--workers", "100"] + leak, {}))
    cases.append((["run", "-s", "pool", "-w", "noop", "--app-mb", "16000", "--fault", "leak",
                   "--leak-mb", "1024", "--every", "1", "--items", "8"], {}))
    for s in ["sqlite", "sqlite-fork", "delayed-job"]:
        for w in ["65", "128", "1024"]:
            cases.append((["run", "-s", s, "-w", "noop", "--workers", w], {}))
    tmp = tempfile.mkdtemp()
    afile = os.path.join(tmp, "a-file")
    open(afile, "w").close()
    for t in ["/nonexistent/tmp", afile]:
        for s in ["sequential", "fork", "rpc", "redis", "sqlite", "sqlite-fork", "prefork"]:
            cases.append((["run", "-s", s, "-w", "noop", "--items", "1"], {"TMPDIR": t}))
    corrupt = os.path.join(tmp, "state")
    os.mkdir(corrupt)
    with open(os.path.join(corrupt, "progress.json"), "w") as f:
        f.write("{not json")
    for state in [afile, os.path.join(afile, "sub"), corrupt]:
        # `lesson 3 --no-run` only shows the lesson and reads no state, so it is not among
        # them; a lesson that runs (`lesson 3` with its prediction prompt) is.
        for args in [["lesson", "list"], ["lesson", "next", "--no-run"], ["lesson", "3"]]:
            cases.append((args, {"CONCUR_STATE_DIR": state}))
    story = ["race", "--story", "enqueue-before-commit"]
    for extra in [["-s", "pool"], ["--fix", "mutex"], ["--harness"], ["--schedule", "r1,w1"],
                  ["--trials", "0"], ["--trials", "1001"], ["--items", "0"], ["--items", "1001"],
                  ["--workers", "0"], ["--workers", "17"], ["--pause-us", "2000000"],
                  ["--seed", "x"], ["--seed", "-1"], ["--schedule", "--seed", "1"]]:
        cases.append((story + extra, {}))
    cases.append((["race", "--story", "no-such-story"], {}))
    cases.append((["race", "--story"], {}))
    exit2 = panics = hangs = 0
    other = []
    for args, env in cases:
        try:
            p = subprocess.run([CONCUR] + args, env={**os.environ, **env}, capture_output=True,
                               text=True, timeout=20, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            hangs += 1
            other.append(("hang", args, env))
            continue
        lines = [l for l in p.stderr.splitlines() if l.strip()
                 and not l.startswith("For more information") and not l.startswith("Usage:")
                 and not l.startswith("  [possible values")]
        if "panicked" in p.stderr:
            panics += 1
        if p.returncode == 2 and len(lines) == 1 and not p.stdout:
            exit2 += 1
        else:
            other.append((p.returncode, args, env, p.stderr.strip()[:300]))
    print(f"inputs: {len(cases)} tried, {exit2} exit 2 with one line, {panics} panics, {hangs} hangs")
    for o in other:
        print("  not refused as expected:", o)


def start(args, tmp, tag):
    return subprocess.Popen([CONCUR] + args, env={**os.environ, TAG: tag, "TMPDIR": tmp},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def signals():
    strategies = ["sequential", "pool", "rayon", "actors", "fork", "prefork", "rpc", "sqlite",
                  "sqlite-fork", "delayed-job", "sucker-punch", "redis", "sidekiq", "resque"]
    clean = unclean = 0
    for s in strategies:
        for sig in [signal.SIGINT, signal.SIGTERM]:
            for delay in [0.3, 0.6, 1.2]:
                for n in range(TRIALS):
                    ok, why = signal_trial(s, sig, delay, f"{os.getpid()}-{s}-{sig}-{delay}-{n}")
                    if ok:
                        clean += 1
                    else:
                        unclean += 1
                        print(f"  unclean: {s} {sig.name} after {delay} s: {why}")
    print(f"signals: {clean + unclean} trials, {clean} clean, {unclean} unclean")


def signal_trial(s, sig, delay, tag):
    items = 2000
    w = [] if s == "sequential" else ["--workers", "4"]
    tmp = tempfile.mkdtemp()
    p = start(["run", "-s", s, "-w", "sleep", "--items", str(items), "--wait-ms", "20"] + w
              + ["--json"], tmp, tag)
    time.sleep(delay)
    if sig == signal.SIGINT:
        os.killpg(p.pid, sig)
    else:
        os.kill(p.pid, sig)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return False, "still running 10 s after the signal"
    want = 128 + sig
    if p.returncode != want:
        return False, f"exit {p.returncode}: {err.strip()[-300:]}"
    try:
        v = json.loads(out)
    except ValueError:
        return False, f"no JSON: {out[:200]}"
    # 2000 jobs of 20 ms on 4 workers take 10 s: a stop at 1.2 s at most leaves most unstarted.
    if (v.get("jobs", 0) + v.get("jobs_not_started", 0) != items or v.get("failed_jobs") != 0
            or v.get("jobs_not_started", 0) == 0):
        return False, f"counts: {v.get('jobs')} + {v.get('jobs_not_started')}, {v.get('failed_jobs')} failed: {v.get('check')}"
    deadline = time.time() + 5
    while tagged(tag) and time.time() < deadline:
        time.sleep(0.05)
    if tagged(tag):
        return False, f"left behind: {tagged(tag)}"
    if os.listdir(tmp):
        return False, f"temp files left: {os.listdir(tmp)}"
    os.rmdir(tmp)
    return True, ""


def kill9():
    left = swept = alive = 0
    trials = 0
    for s in ["fork", "rpc", "sqlite", "sqlite-fork", "prefork", "redis", "resque", "threads"]:
        for delay in [0.2, 0.5, 1.0]:
            trials += 1
            tag = f"{os.getpid()}-k9-{s}-{delay}"
            tmp = tempfile.mkdtemp()
            w = [] if s == "threads" else ["--workers", "2"]
            p = start(["run", "-s", s, "-w", "sleep", "--items", "400", "--wait-ms", "20"] + w
                      + ["--quiet"], tmp, tag)
            time.sleep(delay)
            p.kill()
            p.communicate()
            deadline = time.time() + 5
            while tagged(tag) and time.time() < deadline:
                time.sleep(0.05)
            if tagged(tag):
                alive += 1
                print(f"  kill -9 {s}: processes left {tagged(tag)}")
            if [e for e in os.listdir(tmp) if e.startswith("concur-")]:
                left += 1
            subprocess.run([CONCUR, "run", "-s", "sequential", "-w", "noop", "--items", "1",
                            "--quiet"], env={**os.environ, "TMPDIR": tmp}, capture_output=True)
            if not os.listdir(tmp):
                swept += 1
                os.rmdir(tmp)
            else:
                print(f"  kill -9 {s}: not swept: {os.listdir(tmp)}")
    print(f"kill -9 of the harness: {trials} trials, {alive} left a process, {left} left a "
          f"concur-* dir, {swept} of {trials} TMPDIRs empty after the next run")


def perms():
    bad = []
    seen = 0
    for s in ["redis", "sqlite", "sqlite-fork", "rpc", "resque"]:
        tmp = tempfile.mkdtemp()
        p = start(["run", "-s", s, "-w", "sleep", "--items", "200", "--wait-ms", "10",
                   "--workers", "2", "--quiet"], tmp, f"{os.getpid()}-perm-{s}")
        deadline = time.time() + 1.0
        while time.time() < deadline:
            for root, dirs, files in os.walk(tmp):
                for name in dirs + files:
                    path = os.path.join(root, name)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    seen += 1
                    mode = stat.S_IMODE(st.st_mode)
                    if (stat.S_ISDIR(st.st_mode) and mode != 0o700) or mode & 0o077:
                        bad.append(f"{oct(mode)} {path}")
            time.sleep(0.02)
        p.wait()
        os.rmdir(tmp) if not os.listdir(tmp) else bad.append(f"left: {os.listdir(tmp)}")
    print(f"perms: {seen} looks at entries under TMPDIR during runs, {len(set(bad))} not private")
    for b in sorted(set(bad)):
        print("  ", b)


if __name__ == "__main__":
    parts = sys.argv[1:] or ["inputs", "signals", "kill9", "perms"]
    for part in parts:
        globals()[part]()
