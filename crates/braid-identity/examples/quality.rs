//! Pairwise precision/recall/F1 of the deterministic and probabilistic
//! passes on generated silos:
//! `cargo run --release -p braid-identity --example quality -- [people] [noise] [--debug]`
use std::collections::HashMap;

use arrow_array::cast::AsArray;
use braid_identity::synth::{self, SynthConfig};
use braid_identity::{Config, Graph};

fn labels(g: &Graph, records: &[String]) -> Vec<u64> {
    let mut ids = HashMap::new();
    records
        .iter()
        .enumerate()
        .map(|(i, k)| match g.braid_id(k) {
            Some(b) => {
                let n = ids.len() as u64;
                *ids.entry(b.to_owned()).or_insert(n)
            }
            None => u64::MAX - i as u64,
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let people = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let noise = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let debug = args.iter().any(|a| a == "--debug");
    let data = synth::generate(&SynthConfig {
        people,
        noise,
        ..Default::default()
    });
    println!(
        "{people} people, noise {noise}: {} records, {} identifiers, {} profiles",
        data.records.len(),
        data.identifiers.num_rows(),
        data.profiles.num_rows()
    );
    let mut pcfg = Config::with_probabilistic();
    if let Some(t) = args.iter().find_map(|a| a.strip_prefix("--threshold=")) {
        pcfg.probabilistic.as_mut().unwrap().threshold = t.parse().unwrap();
    }
    if args.iter().any(|a| a == "--em") {
        pcfg.probabilistic.as_mut().unwrap().estimate = true;
    }
    for (name, cfg) in [
        ("deterministic", Config::default()),
        ("+ probabilistic", pcfg),
    ] {
        let mut g = Graph::new(cfg);
        g.upsert(&data.identifiers, Some(&data.profiles)).unwrap();
        let t = std::time::Instant::now();
        let r = g.resolve();
        let el = t.elapsed();
        let lab = labels(&g, &data.records);
        let m = synth::pairwise(&data.truth, &lab);
        println!(
            "{name:16} precision {:.5} recall {:.5} F1 {:.5}  ({} people, {} not followed, {} conflicts, {} matches, {:.2?})",
            m.precision, m.recall, m.f1, r.people, r.not_followed, r.conflicts, r.probabilistic_matches, el
        );
        if debug {
            // Clusters holding more than one true person.
            let mut by: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, l) in lab.iter().enumerate() {
                by.entry(*l).or_default().push(i);
            }
            let mut shown = 0;
            for (_, members) in by {
                let mut persons: Vec<u32> = members.iter().map(|i| data.truth[*i]).collect();
                persons.sort();
                persons.dedup();
                if persons.len() > 1 && shown < 5 {
                    shown += 1;
                    let b = g.braid_id(&data.records[members[0]]).unwrap();
                    println!(
                        "  mixed cluster {b}: {} records, {} people\n{}",
                        members.len(),
                        persons.len(),
                        serde_json::to_string_pretty(&g.explain(b).unwrap())
                            .unwrap()
                            .lines()
                            .take(60)
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                }
            }
            // Recall per pair of silos.
            let mut per: std::collections::BTreeMap<(String, String), (u64, u64)> =
                Default::default();
            let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
            for (i, t) in data.truth.iter().enumerate() {
                by_person.entry(*t).or_default().push(i);
            }
            for recs in by_person.values() {
                for (x, &i) in recs.iter().enumerate() {
                    for &j in &recs[x + 1..] {
                        let si = data.records[i].split('/').next().unwrap().to_owned();
                        let sj = data.records[j].split('/').next().unwrap().to_owned();
                        let k = if si <= sj { (si, sj) } else { (sj, si) };
                        let e = per.entry(k).or_default();
                        e.0 += 1;
                        e.1 += u64::from(lab[i] == lab[j]);
                    }
                }
            }
            // The best a profile pass could do: merge every cluster of a
            // person that holds a profile.
            let with_profile: std::collections::HashSet<&str> = data
                .profiles
                .column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect();
            let (mut tp_max, mut tpairs) = (0u64, 0u64);
            let pairs = |n: u64| n * n.saturating_sub(1) / 2;
            for recs in by_person.values() {
                tpairs += pairs(recs.len() as u64);
                let mut cl: HashMap<u64, (u64, bool)> = HashMap::new();
                for &i in recs {
                    let e = cl.entry(lab[i]).or_default();
                    e.0 += 1;
                    e.1 |= with_profile.contains(data.records[i].as_str());
                }
                let merged: u64 = cl.values().filter(|c| c.1).map(|c| c.0).sum();
                tp_max += pairs(merged)
                    + cl.values()
                        .filter(|c| !c.1)
                        .map(|c| pairs(c.0))
                        .sum::<u64>();
            }
            println!(
                "  recall if every profiled cluster of a person joined: {:.4}",
                tp_max as f64 / tpairs as f64
            );
            // Missed record pairs by the level pattern of their clusters'
            // merged profiles (name, address, postcode, city, birth_date,
            // email, phone).
            let pk = data.profiles.column(0).as_string::<i32>();
            let col = |n: &str| {
                data.profiles
                    .column_by_name(n)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (pn, pa, pc, pp) = (col("name"), col("address"), col("city"), col("postcode"));
            let pb = data
                .profiles
                .column_by_name("birth_date")
                .unwrap()
                .as_primitive::<arrow_array::types::Date32Type>()
                .clone();
            use arrow_array::Array;
            let mut prep: HashMap<&str, braid_identity::prob::Prepared> = HashMap::new();
            for i in 0..pk.len() {
                fn o(a: &arrow_array::StringArray, i: usize) -> Option<&str> {
                    a.is_valid(i).then(|| a.value(i))
                }
                prep.insert(
                    pk.value(i),
                    braid_identity::prob::prepare(
                        o(&pn, i),
                        o(&pa, i),
                        o(&pc, i),
                        o(&pp, i),
                        pb.is_valid(i).then(|| pb.value(i)),
                    ),
                );
            }
            let mut hist: std::collections::BTreeMap<String, usize> = Default::default();
            for recs in by_person.values() {
                let mut cl: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
                for &i in recs {
                    if prep.contains_key(data.records[i].as_str()) {
                        cl.entry(lab[i]).or_default().push(i);
                    }
                }
                // Each cluster's profiles merged (missing fields filled from
                // the cluster's other records), as the pass compares them.
                let sizes: Vec<usize> = cl.values().map(Vec::len).collect();
                let cls: Vec<braid_identity::prob::Prepared> = cl
                    .values()
                    .map(|members| {
                        let mut d = prep[data.records[members[0]].as_str()].clone();
                        for &i in &members[1..] {
                            d.fill_from(&prep[data.records[i].as_str()]);
                        }
                        d
                    })
                    .collect();
                for x in 0..cls.len() {
                    for y in x + 1..cls.len() {
                        let l = braid_identity::prob::levels(&cls[x], &cls[y]);
                        // Weighted by the record pairs it leaves apart.
                        *hist.entry(format!("{l:?}")).or_default() += sizes[x] * sizes[y];
                    }
                }
            }
            let mut hv: Vec<_> = hist.into_iter().collect();
            hv.sort_by_key(|x| std::cmp::Reverse(x.1));
            for (k, v) in hv.iter().take(15) {
                println!("  missed {v:>5} record pairs: {k}");
            }
            for ((a, b), (n, ok)) in per {
                println!(
                    "  {a:>6} - {b:<6} {n:>6} true pairs, recall {:.3}",
                    ok as f64 / n as f64
                );
            }
            let _ = data.identifiers.column(0).as_string::<i32>();
        }
    }
}
