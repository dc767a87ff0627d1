fn main() {
    let path = std::env::args().nth(1).expect("file");
    let bytes = std::fs::read(path).expect("read");
    let now = "2024-06-01T00:00:00Z".parse().unwrap();
    let t = std::time::Instant::now();
    let r = vigilo_iam::audit(&bytes, &vigilo_iam::AuditOptions::new(now)).unwrap();
    eprintln!("audit took {:?}", t.elapsed());
    for f in &r.findings {
        println!("{}\t{}\t{}\t{}\t{}\t{:?}", f.severity, f.check_id, f.principal_type.as_str(), f.principal, f.method.clone().unwrap_or_default(), f.confidence);
    }
    eprintln!("{:?}", r.summary);
    for w in &r.warnings { eprintln!("warning: {w}"); }
}
