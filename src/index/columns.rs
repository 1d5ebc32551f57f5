//! The results of one survey held column by column: each grouping category
//! as a small code into its column's dictionary, scores and answers as flat
//! arrays. A million respondents then cost tens of bytes each instead of a
//! dozen heap strings, and groupings compare integers, not strings.

use std::collections::HashMap;

use super::frame::{Group, QUINTILES, Row};

/// A text column with few distinct values: each row's value as a code
/// (0 = no value, k = `names[k - 1]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Categorical {
    names: Vec<String>,
    lookup: HashMap<String, u16>,
    pub codes: Vec<u16>,
}

impl Categorical {
    pub fn push(&mut self, value: Option<&str>) {
        let code = match value {
            None => 0,
            Some(v) => match self.lookup.get(v) {
                Some(&code) => code,
                None => {
                    self.names.push(v.to_string());
                    let code = u16::try_from(self.names.len()).expect("fewer than 65,536 categories");
                    self.lookup.insert(v.to_string(), code);
                    code
                }
            },
        };
        self.codes.push(code);
    }

    /// Appends another column's rows, recoding its values into this one's.
    pub fn append(&mut self, other: &Categorical) {
        let recode: Vec<u16> = (0..other.code_count())
            .map(|code| match other.name(code as u16) {
                None => 0,
                Some(name) => {
                    self.push(Some(name));
                    self.codes.pop().unwrap_or(0)
                }
            })
            .collect();
        self.codes.extend(other.codes.iter().map(|&code| recode[code as usize]));
    }

    /// Empties the column and its dictionary, keeping their memory.
    pub fn clear(&mut self) {
        self.names.clear();
        self.lookup.clear();
        self.codes.clear();
    }

    /// The value of row `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.name(self.codes[i])
    }

    /// The value a code stands for.
    pub fn name(&self, code: u16) -> Option<&str> {
        code.checked_sub(1).map(|k| self.names[k as usize].as_str())
    }

    /// How many codes there are, counting 0 (no value).
    pub fn code_count(&self) -> usize {
        self.names.len() + 1
    }

    /// How many rows hold each value, by value (rows with none left out).
    pub fn counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut per_code = vec![0usize; self.code_count()];
        for &code in &self.codes {
            per_code[code as usize] += 1;
        }
        self.names.iter().zip(&per_code[1..]).map(|(name, &n)| (name.clone(), n)).filter(|(_, n)| *n > 0).collect()
    }

    /// Each code's place among the values sorted by name (`None` for 0): the
    /// order outputs list categories in.
    pub fn sorted_ranks(&self) -> Vec<Option<u32>> {
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let mut rank = vec![None; self.code_count()];
        for (r, k) in order.into_iter().enumerate() {
            rank[k + 1] = Some(r as u32);
        }
        rank
    }
}

/// Submitted responses as columns, in the order they were pushed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub version: Vec<i64>,
    pub channel: Categorical,
    pub mode: Categorical,
    pub voice: Categorical,
    pub ics: Categorical,
    pub age_band: Categorical,
    pub sex: Categorical,
    pub ethnicity: Categorical,
    pub long_term_condition: Categorical,
    pub imd_quintile: Categorical,
    pub base_weight: Vec<f64>,
    pub index: Vec<Option<f64>>,
    /// `[domain][row]`.
    pub domains: Vec<Vec<Option<f64>>>,
    /// `[row * items + item]`: the chosen options as a bit set, 0 = no answer.
    pub choices: Vec<u64>,
    pub items: usize,
}

impl Frame {
    /// An empty frame for a definition with these many domains and question items.
    pub fn new(domains: usize, items: usize) -> Frame {
        Frame { domains: vec![Vec::new(); domains], items, ..Frame::default() }
    }

    /// A frame of these rows (tests and benchmarks build rows by hand).
    pub fn from_rows(rows: &[Row], domains: usize, items: usize) -> Frame {
        let mut frame = Frame::new(domains, items);
        for row in rows {
            frame.push(row);
        }
        frame
    }

    /// Every grouping column, to do the same to each.
    fn categoricals_mut(&mut self) -> [&mut Categorical; 9] {
        [
            &mut self.channel,
            &mut self.mode,
            &mut self.voice,
            &mut self.ics,
            &mut self.age_band,
            &mut self.sex,
            &mut self.ethnicity,
            &mut self.long_term_condition,
            &mut self.imd_quintile,
        ]
    }

    /// Makes room for `additional` more rows in every column at once.
    pub fn reserve(&mut self, additional: usize) {
        self.version.reserve(additional);
        for column in self.categoricals_mut() {
            column.codes.reserve(additional);
        }
        self.base_weight.reserve(additional);
        self.index.reserve(additional);
        for column in &mut self.domains {
            column.reserve(additional);
        }
        self.choices.reserve(additional * self.items);
    }

    /// Appends one response; missing domains and items count as unanswered.
    pub fn push(&mut self, row: &Row) {
        self.version.push(row.version);
        self.channel.push(Some(&row.channel));
        self.mode.push(row.mode.as_deref());
        self.voice.push(row.voice.as_deref());
        self.ics.push(row.ics.as_deref());
        self.age_band.push(row.age_band.as_deref());
        self.sex.push(row.sex.as_deref());
        self.ethnicity.push(row.ethnicity.as_deref());
        self.long_term_condition.push(row.long_term_condition.as_deref());
        self.imd_quintile.push(row.imd_quintile.and_then(|q| QUINTILES.get(usize::try_from(q - 1).ok()?).copied()));
        self.base_weight.push(row.base_weight);
        self.index.push(row.index);
        for (d, column) in self.domains.iter_mut().enumerate() {
            column.push(row.domains.get(d).copied().flatten());
        }
        let start = self.choices.len();
        self.choices.extend(row.choices.iter().take(self.items));
        self.choices.resize(start + self.items, 0);
    }

    /// Appends the rows of a frame of the same shape, after these.
    pub fn append(&mut self, later: &Frame) {
        self.version.extend_from_slice(&later.version);
        self.channel.append(&later.channel);
        self.mode.append(&later.mode);
        self.voice.append(&later.voice);
        self.ics.append(&later.ics);
        self.age_band.append(&later.age_band);
        self.sex.append(&later.sex);
        self.ethnicity.append(&later.ethnicity);
        self.long_term_condition.append(&later.long_term_condition);
        self.imd_quintile.append(&later.imd_quintile);
        self.base_weight.extend_from_slice(&later.base_weight);
        self.index.extend_from_slice(&later.index);
        for (column, more) in self.domains.iter_mut().zip(&later.domains) {
            column.extend_from_slice(more);
        }
        self.choices.extend_from_slice(&later.choices);
    }

    /// Empties the frame, keeping its memory for the next rows.
    pub fn clear(&mut self) {
        self.version.clear();
        for column in self.categoricals_mut() {
            column.clear();
        }
        self.base_weight.clear();
        self.index.clear();
        for column in &mut self.domains {
            column.clear();
        }
        self.choices.clear();
    }

    pub fn len(&self) -> usize {
        self.version.len()
    }

    pub fn is_empty(&self) -> bool {
        self.version.is_empty()
    }

    /// A grouping dimension's column (see `frame::DIMENSIONS`).
    pub fn dimension(&self, name: &str) -> Option<&Categorical> {
        Some(match name {
            "age_band" => &self.age_band,
            "sex" => &self.sex,
            "ethnicity" => &self.ethnicity,
            "imd_quintile" => &self.imd_quintile,
            "long_term_condition" => &self.long_term_condition,
            "voice" => &self.voice,
            "mode" => &self.mode,
            _ => return None,
        })
    }

    /// Row `i`'s answers, one bit set per question item.
    pub fn choices_of(&self, i: usize) -> &[u64] {
        &self.choices[i * self.items..(i + 1) * self.items]
    }

    /// Each row's population (`Group::of`), worked out per code pair once.
    pub fn groups(&self) -> Vec<Option<Group>> {
        let voices = self.voice.code_count();
        let mut table = Vec::with_capacity(voices * self.age_band.code_count());
        for v in 0..voices {
            for a in 0..self.age_band.code_count() {
                table.push(Group::of_categories(self.voice.name(v as u16), self.age_band.name(a as u16)));
            }
        }
        let bands = self.age_band.code_count();
        self.voice
            .codes
            .iter()
            .zip(&self.age_band.codes)
            .map(|(&v, &a)| table[v as usize * bands + a as usize])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_and_rank_by_name() {
        let mut c = Categorical::default();
        for v in [Some("white"), None, Some("asian"), Some("white"), Some("mixed")] {
            c.push(v);
        }
        assert_eq!(c.codes, vec![1, 0, 2, 1, 3]);
        assert_eq!(
            (0..5).map(|i| c.get(i)).collect::<Vec<_>>(),
            vec![Some("white"), None, Some("asian"), Some("white"), Some("mixed")]
        );
        assert_eq!(c.sorted_ranks(), vec![None, Some(2), Some(0), Some(1)]);
        let counts: Vec<(String, usize)> = c.counts().into_iter().collect();
        assert_eq!(counts, [("asian".to_string(), 1), ("mixed".to_string(), 1), ("white".to_string(), 2)]);
    }

    fn row(ics: &str, voice: Option<&str>, q: Option<i32>, choice: u64) -> Row {
        Row {
            version: 1,
            channel: "open_link".into(),
            mode: Some(if choice == 4 { "paper" } else { "online" }.into()),
            voice: voice.map(Into::into),
            ics: Some(ics.into()),
            imd_quintile: q,
            base_weight: 1.5,
            index: Some(40.0),
            domains: vec![Some(30.0), None],
            choices: vec![choice],
            ..Row::default()
        }
    }

    #[test]
    fn frames_appended_equal_one_frame_of_all_rows() {
        let rows = [
            row("E1", Some("patient"), Some(2), 1),
            row("E2", None, None, 0),
            row("E3", Some("carer_self"), Some(5), 4),
            row("E1", Some("carer_self"), Some(1), 2),
            row("E4", Some("patient"), None, 1),
        ];
        let whole = Frame::from_rows(&rows, 2, 1);
        let mut joined = Frame::from_rows(&rows[..2], 2, 1);
        joined.append(&Frame::from_rows(&rows[2..], 2, 1));
        assert_eq!(joined, whole);
    }

    #[test]
    fn a_cleared_frame_filled_again_equals_a_fresh_one() {
        let rows = vec![
            row("E1", Some("patient"), Some(2), 1),
            row("E2", None, None, 0),
            row("E3", Some("carer_self"), Some(5), 4),
        ];
        let mut reused = Frame::from_rows(&rows, 2, 1);
        reused.clear();
        assert!(reused.is_empty());
        for r in rows.iter().rev() {
            reused.push(r);
        }
        let reversed: Vec<Row> = rows.iter().rev().cloned().collect();
        assert_eq!(reused, Frame::from_rows(&reversed, 2, 1));
    }
}
