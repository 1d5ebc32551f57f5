//! A sample file as a lead might upload it.
#![no_main]
use std::sync::OnceLock;

use joinedup::definitions::SurveyDefinition;
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static SurveyDefinition {
    static SURVEY: OnceLock<SurveyDefinition> = OnceLock::new();
    SURVEY.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../survey-definitions/format-example.yaml");
        joinedup::definitions::load_file(std::path::Path::new(path)).expect("the example is valid").definition
    })
}

fuzz_target!(|data: &[u8]| {
    let icss = joinedup::reference::icss().unwrap();
    let rules = joinedup::invitations::sample::Rules { survey: survey(), icss: &icss };
    let checked = joinedup::invitations::sample::check(data, &rules);
    assert!(checked.problems.iter().all(|p| p.line >= 1));
});
