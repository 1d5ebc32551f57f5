//! A survey definition as a lead might upload it: any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let lines = joinedup::definitions::line_count(text).max(1);
        if let Err(problems) = joinedup::definitions::parse("fuzz.yaml", text) {
            assert!(!problems.is_empty());
            assert!(problems.iter().all(|p| p.at.line >= 1 && p.at.line <= lines + 1));
        }
    }
});
