//! Reference data bundled with joinedup (see `data/README.md` for sources).

use crate::storage::icss::Ics;

const ICS_CSV: &str = include_str!("../data/ics.csv");

/// The bundled, dated list of integrated care systems.
pub fn icss() -> Result<Vec<Ics>, csv::Error> {
    csv::Reader::from_reader(ICS_CSV.as_bytes()).deserialize().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_list_has_the_42_systems_of_july_2022() {
        let list = super::icss().unwrap();
        assert_eq!(list.len(), 42);
        assert!(list.iter().all(|i| i.ons_code.starts_with("E54") && i.ods_code.len() == 3));
        assert_eq!(list.iter().filter(|i| i.nhs_region == "Midlands").count(), 11);
    }
}
