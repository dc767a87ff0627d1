mod common;
use common::*;

#[test]
fn bundled_compiles_and_spike_fires() {
    let rules = vigilo_detect::RuleSet::compile(&vigilo_detect::bundled()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    for r in rules.rules() {
        println!(
            "{} {:?} emits={} group={:?}",
            r.rule_id, r.kind, r.emits_findings, r.group_by
        );
    }
    let mut d = vigilo_detect::Detector::new(rules);
    let events: Vec<_> = (0..21)
        .map(|i| log(i + 1, i * 5, "api", "ERROR", "boom", "u1"))
        .collect();
    let fs = run(&mut d, &events);
    for f in &fs {
        println!("{:?}", got(f));
    }
}
