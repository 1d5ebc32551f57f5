//! A respondent's form body against every page of the example survey.
#![no_main]
use std::sync::OnceLock;

use joinedup::definitions::SurveyDefinition;
use joinedup::journey::Wording;
use joinedup::journey::form::{Context, read_page};
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static SurveyDefinition {
    static SURVEY: OnceLock<SurveyDefinition> = OnceLock::new();
    SURVEY.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../survey-definitions/format-example.yaml");
        joinedup::definitions::load_file(std::path::Path::new(path)).expect("the example is valid").definition
    })
}

fuzz_target!(|data: &[u8]| {
    let fields = joinedup::web::csrf::parse_urlencoded(data);
    let d = survey();
    let ics = ["E54000008".to_string()].into_iter().collect();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    for page in &d.pages {
        let ctx = Context { wording: Wording::new(d, "en", None), ics_codes: &ics, today };
        let _ = read_page(&ctx, page, &fields);
    }
});
