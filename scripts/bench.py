"""braid benchmarks. Run through scripts/bench.sh (builds the release binary, installs DuckDB).

Each measured braid run is its own process; its peak RSS is its VmHWM.
The sandbox runs as a separate process on loopback.
"""
import json, os, random, shutil, socket, subprocess, sys, tempfile, time

BRAID = sys.argv[1]
SIZES = [int(a) for a in sys.argv[2:]] or [100_000, 1_000_000]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS in MiB).

    The peak is the process's own VmHWM, polled from /proc while it runs
    (wait4's ru_maxrss would also count the pages of this Python process that
    the child shared between fork and exec).
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.005)
    secs = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    return secs, peak_kb / 1024


def bench_hubspot(n, tmp):
    port = free_port()
    sb = subprocess.Popen(
        [BRAID, "sandbox", "--port", str(port), "--contacts", str(n), "--companies", "1", "--deals", "1",
         "--rate-limit", "0", "--search-rate-limit", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        pipe = os.path.join(tmp, f"hubspot_{n}.yaml")
        with open(pipe, "w") as f:
            f.write(f"""name: bench_hubspot
sources:
  - name: hubspot
    connector: hubspot
    config:
      base_url: http://127.0.0.1:{port}
      access_token: sandbox-hubspot-token
    streams:
      - name: contacts
        sync_mode: full_refresh
""")
        wh = os.path.join(tmp, f"wh_hubspot_{n}")
        env = dict(os.environ, BRAID_LOG_FORMAT="text", RUST_LOG="warn")
        secs, rss = timed([BRAID, "run", pipe, "--warehouse", wh, "--report", os.path.join(tmp, "r.json")], env)
        rows = json.load(open(os.path.join(tmp, "r.json")))["streams"][0]["rows_committed"]
        assert rows == n, (rows, n)
        return secs, rss
    finally:
        sb.terminate()
        sb.wait()


def make_ndjson(path, n):
    r = random.Random(1)
    names = ["Wei Zhang", "Na Li", "Emma Smith", "Liam Jones", "张伟", "王芳", "Lukas Müller"]
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "id": i, "email": f"user{i}@example.com", "name": r.choice(names),
                "phone": f"+1415555{i % 10000:04d}", "country": r.choice(["US", "CN", "DE", "GB"]),
                "amount": round(r.random() * 1000, 2), "items": r.randrange(1, 9),
                "status": r.choice(["paid", "refunded", "pending"]), "vip": r.random() < 0.1,
                "updated_at": f"2024-0{1 + i % 9}-1{i % 10}T1{i % 10}:00:00Z",
            }, ensure_ascii=False) + "\n")


def bench_files(n, tmp):
    import duckdb
    src = os.path.join(tmp, f"events_{n}.jsonl")
    make_ndjson(src, n)
    size_mb = os.path.getsize(src) / 2**20
    pipe = os.path.join(tmp, f"files_{n}.yaml")
    with open(pipe, "w") as f:
        f.write(f"""name: bench_files
sources:
  - name: events
    connector: files
    config:
      streams:
        - name: events
          path: {src}
    streams:
      - name: events
        sync_mode: full_refresh
""")
    wh = os.path.join(tmp, f"wh_files_{n}")
    env = dict(os.environ, BRAID_LOG_FORMAT="text", RUST_LOG="warn")
    braid_secs, rss = timed([BRAID, "run", pipe, "--warehouse", wh], env)
    out = os.path.join(tmp, f"duck_{n}.parquet")
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_json('{src}')) TO '{out}' (FORMAT parquet)")
    duck_secs = time.perf_counter() - t0
    got = con.execute(f"SELECT count(*) FROM read_parquet('{wh}/raw/events/events/**/*.parquet')").fetchone()[0]
    assert got == n, (got, n)
    return size_mb, braid_secs, rss, duck_secs


def main():
    tmp = tempfile.mkdtemp(prefix="braid-bench-")
    try:
        print(f"machine: {os.cpu_count()} cores; braid: {BRAID}")
        print("\nHubSpot contacts, sandbox on loopback (separate process) -> braid run -> Parquet")
        print(f"{'N':>10} {'seconds':>9} {'records/s':>11} {'peak RSS MiB':>13}")
        for n in SIZES:
            secs, rss = bench_hubspot(n, tmp)
            print(f"{n:>10} {secs:>9.2f} {n / secs:>11,.0f} {rss:>13.0f}", flush=True)
        print("\nNDJSON -> Parquet: braid files connector vs DuckDB COPY (same file, same run)")
        print(f"{'N':>10} {'MiB':>7} {'braid s':>8} {'braid rec/s':>12} {'RSS MiB':>8} {'duckdb s':>9} {'duckdb rec/s':>13}")
        for n in SIZES:
            mb, bs, rss, ds = bench_files(n, tmp)
            print(f"{n:>10} {mb:>7.0f} {bs:>8.2f} {n / bs:>12,.0f} {rss:>8.0f} {ds:>9.2f} {n / ds:>13,.0f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
