//! Audit then render in every format: renderers must not panic on any report.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_717_200_000, 0).unwrap_or_default();
    if let Ok(r) = vigilo_iam::audit(data, &vigilo_iam::AuditOptions::new(now)) {
        let _ = vigilo_iam::render_table(&r, true);
        let _ = vigilo_iam::render_json(&r);
        let _ = vigilo_iam::render_sarif(&r);
        let _ = vigilo_iam::seed_summary(&r);
    }
});
