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
    for (name, cfg) in [
        ("deterministic", Config::default()),
        ("+ probabilistic", Config::with_probabilistic()),
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
