"""DuckDB connected-components baseline for the braid-identity benchmark.

Reads the same edge file (record_key, id_type, id_value) the Rust stitcher
reads, interns records and values, drops values held by more than 50
distinct records (as braid does), then runs iterative min-label propagation
over the bipartite record-value graph until no label changes.
Prints one JSON line: seconds, iterations, records, clusters, peak RSS.
"""
import json
import resource
import sys
import time

import duckdb

path = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 50
t0 = time.perf_counter()
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f"CREATE TABLE e AS SELECT record_key, id_type || ':' || id_value AS v FROM read_parquet('{path}')")
con.execute("CREATE TABLE r AS SELECT record_key, row_number() OVER () AS rid FROM (SELECT DISTINCT record_key FROM e)")
con.execute("CREATE TABLE vv AS SELECT v, row_number() OVER () AS vid FROM (SELECT DISTINCT v FROM e)")
con.execute("CREATE TABLE g AS SELECT DISTINCT rid, vid FROM e JOIN r USING (record_key) JOIN vv USING (v)")
con.execute("DROP TABLE e")
con.execute(f"DELETE FROM g WHERE vid IN (SELECT vid FROM g GROUP BY vid HAVING count(*) > {limit})")
con.execute("CREATE TABLE lab AS SELECT rid, rid AS l FROM r")
iterations = 0
while True:
    iterations += 1
    con.execute("CREATE OR REPLACE TABLE vl AS SELECT g.vid, min(lab.l) AS l FROM g JOIN lab USING (rid) GROUP BY g.vid")
    con.execute(
        "CREATE OR REPLACE TABLE lab2 AS SELECT lab.rid, least(lab.l, coalesce(min(vl.l), lab.l)) AS l "
        "FROM lab LEFT JOIN g USING (rid) LEFT JOIN vl USING (vid) GROUP BY lab.rid, lab.l"
    )
    changed = con.execute("SELECT count(*) FROM lab JOIN lab2 USING (rid) WHERE lab.l <> lab2.l").fetchone()[0]
    con.execute("DROP TABLE lab")
    con.execute("ALTER TABLE lab2 RENAME TO lab")
    if changed == 0:
        break
records, clusters = con.execute("SELECT count(*), count(DISTINCT l) FROM lab").fetchone()
seconds = time.perf_counter() - t0
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": round(seconds, 2), "iterations": iterations, "records": records,
                  "clusters": clusters, "peak_rss_mib": round(rss_mib)}))
