//! Format detection and every parser behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_717_200_000, 0).unwrap_or_default();
    let _ = vigilo_iam::audit(data, &vigilo_iam::AuditOptions::new(now));
});
