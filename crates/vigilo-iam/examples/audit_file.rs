//! Audit a file and print the report: `audit_file FILE [json|table|sarif|seed]`.
fn main() {
    let path = std::env::args().nth(1).expect("file");
    let fmt = std::env::args().nth(2).unwrap_or_else(|| "json".into());
    let bytes = std::fs::read(path).expect("read");
    let now = "2024-06-01T00:00:00Z".parse().unwrap();
    match vigilo_iam::audit(&bytes, &vigilo_iam::AuditOptions::new(now)) {
        Ok(r) => match fmt.as_str() {
            "table" => print!("{}", vigilo_iam::render_table(&r, false)),
            "sarif" => print!("{}", vigilo_iam::render_sarif(&r)),
            "seed" => print!("{}", vigilo_iam::seed_summary(&r)),
            _ => print!("{}", vigilo_iam::render_json(&r)),
        },
        Err(e) => println!("error: {e}"),
    }
}
