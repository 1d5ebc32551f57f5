//! Reference data bundled with joinedup (see `data/README.md` for sources).

use crate::storage::icss::Ics;

const ICS_CSV: &str = include_str!("../data/ics.csv");
const POPULATION_CSV: &str = include_str!("../data/ics-population-2022.csv");
const DEPRIVATION_CSV: &str = include_str!("../data/ics-deprivation-2019.csv");

/// Where the population margins come from, as outputs cite it.
pub const POPULATION_SOURCE: &str = "ONS mid-2022 population estimates (sub-ICB locations, usual residents at 30 June 2022), summed to ICBs by age band and sex";

/// Where the deprivation shares that form peer groups come from, as outputs cite it.
pub const DEPRIVATION_SOURCE: &str = "English Index of Multiple Deprivation 2019 (MHCLG): share of each ICB's residents (ONS mid-2020 LSOA populations) in the most deprived national quintile of LSOAs, via the ONS LSOA (2011) to ICB (July 2022) lookup (data/ics-deprivation-2019.csv)";

/// The bundled, dated list of integrated care systems.
pub fn icss() -> Result<Vec<Ics>, csv::Error> {
    csv::Reader::from_reader(ICS_CSV.as_bytes()).deserialize().collect()
}

#[derive(serde::Deserialize)]
struct PopulationRow {
    ons_code: String,
    sex: String,
    age_band: String,
    population: f64,
}

/// Population by (ICS ONS code, age band, sex), all ages.
pub fn population() -> Result<std::collections::BTreeMap<(String, String, String), f64>, csv::Error> {
    let mut out = std::collections::BTreeMap::new();
    for row in csv::Reader::from_reader(POPULATION_CSV.as_bytes()).deserialize::<PopulationRow>() {
        let row = row?;
        out.insert((row.ons_code, row.age_band, row.sex), row.population);
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct DeprivationRow {
    ons_code: String,
    pop_share_imd_q1: f64,
}

/// The share of each ICS's residents living in the most deprived national
/// IMD 2019 quintile of LSOAs.
pub fn deprivation_shares() -> Result<std::collections::BTreeMap<String, f64>, csv::Error> {
    csv::Reader::from_reader(DEPRIVATION_CSV.as_bytes())
        .deserialize::<DeprivationRow>()
        .map(|r| r.map(|r| (r.ons_code, r.pop_share_imd_q1)))
        .collect()
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

    #[test]
    fn every_system_has_a_real_deprivation_share() {
        let shares = super::deprivation_shares().unwrap();
        assert_eq!(shares.len(), 42);
        for ics in super::icss().unwrap() {
            let share = shares[&ics.ons_code];
            assert!((0.0..=1.0).contains(&share), "{}: {share}", ics.ons_code);
        }
        // Birmingham and Solihull is the most deprived, Surrey Heartlands the least.
        assert!((shares["E54000055"] - 0.514).abs() < 0.001);
        assert!(shares["E54000052"] < 0.01);
    }
}
