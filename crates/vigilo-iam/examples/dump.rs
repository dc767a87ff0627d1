//! Print one line per finding (severity, check, principal, method) and timings.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dump FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path).expect("read input");
    let now = chrono::Utc::now();
    let opts = vigilo_iam::AuditOptions::new(now);
    let t = std::time::Instant::now();
    let n = vigilo_iam::catalog_size();
    eprintln!("catalog: {n} actions loaded in {:?}", t.elapsed());
    for i in 0..3 {
        let t = std::time::Instant::now();
        let r = vigilo_iam::audit(&bytes, &opts);
        eprintln!("run {i}: {:?}", t.elapsed());
        if i == 2 {
            match r {
                Ok(r) => {
                    for f in &r.findings {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{:?}",
                            f.severity,
                            f.check_id,
                            f.principal_type.as_str(),
                            f.principal,
                            f.method.clone().unwrap_or_default(),
                            f.confidence
                        );
                    }
                    eprintln!("{:?}", r.summary);
                }
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
}
