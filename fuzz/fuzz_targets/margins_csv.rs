//! A population margins file as an analyst might upload it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codes = ["E54000008".to_string(), "E54000010".to_string()].into_iter().collect();
    for group in joinedup::index::frame::Group::ALL {
        if let Err(problems) = joinedup::index::margins::parse(group, data, &codes) {
            assert!(!problems.is_empty());
        }
    }
});
