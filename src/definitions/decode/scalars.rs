//! Reading one value: strings, numbers, dates, lists, texts in every
//! language and voice, and the `validator` rules declared on the model.

use super::*;

impl Decoder {
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.error(node.at, path, format!("expected a single value, found {}", node.describe()));
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar { text, quoted: false } if text == "true" => Some(true),
            NodeKind::Scalar { text, quoted: false } if text == "false" => Some(false),
            _ => {
                self.error(node.at, path, format!("expected `true` or `false`, found {}", shown(node)));
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        if let NodeKind::Scalar { text, quoted: false } = &node.kind
            && let Ok(n) = text.parse::<f64>()
            && n.is_finite()
        {
            return Some(n);
        }
        self.not_a_number(node, path, "a number");
        None
    }

    pub fn whole(&mut self, node: &Node, path: &str) -> Option<u32> {
        if let NodeKind::Scalar { text, quoted: false } = &node.kind
            && let Ok(n) = text.parse::<u32>()
        {
            return Some(n);
        }
        self.not_a_number(node, path, "a whole number");
        None
    }

    pub(super) fn not_a_number(&mut self, node: &Node, path: &str, what: &str) {
        let message = match &node.kind {
            NodeKind::Scalar { text, quoted: true } if text.trim().parse::<f64>().is_ok() => {
                let quote = if self.source.get(node.index) == Some(&'\'') { '\'' } else { '"' };
                format!("expected {what}, found the text `{quote}{text}{quote}` in quotes; remove the quotes")
            }
            _ => format!("expected {what}, found {}", shown(node)),
        };
        self.error(node.at, path, message);
    }

    pub fn date(&mut self, node: &Node, path: &str) -> Option<NaiveDate> {
        let text = self.string(node, path)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                let shaped = text.len() == 10
                    && text
                        .chars()
                        .enumerate()
                        .all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
                let message = if shaped {
                    format!("`{text}` is not a real date")
                } else {
                    format!("expected a date written YYYY-MM-DD, found `{text}`")
                };
                self.error(node.at, path, message).hint("for example 2026-04-01");
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.at,
                    path,
                    format!("expected a list (lines starting with `- `), found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Maps `validator` errors on a freshly read struct to its keys.
    pub fn check<T: Validate>(&mut self, value: &T, fields: &Fields<'_>) {
        if let Err(errors) = value.validate() {
            self.report(&errors, fields);
        }
    }

    pub(super) fn report(&mut self, errors: &ValidationErrors, fields: &Fields<'_>) {
        for (field, kind) in errors.errors() {
            if let ValidationErrorsKind::Field(list) = kind {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map_or_else(|| format!("is not valid ({})", error.code), |m| m.to_string());
                    let shown_value = fields.get(field).map(shown).unwrap_or_default();
                    self.error(fields.key_at(field), &fields.child(field), format!("{shown_value} {message}"));
                }
            }
        }
    }

    /// Reads a text: one wording, wording per voice, or wording per language.
    pub fn text(&mut self, node: &Node, path: &str, scope: TextScope) -> Option<Text> {
        let default_language = self.languages.first().cloned().unwrap_or_else(|| "en".into());
        let text = match &node.kind {
            NodeKind::Scalar { .. } => {
                let s = self.nonempty(node, path)?;
                Text::plain(&default_language, s)
            }
            NodeKind::Map(entries) => {
                let all_voices = entries.iter().all(|(k, _)| VOICE_KEYS.contains(&k.text.as_str()));
                if all_voices {
                    let mut by_language = BTreeMap::new();
                    by_language.insert(default_language, self.voice_text(node, path)?);
                    Text { by_language }
                } else {
                    let mut by_language = BTreeMap::new();
                    let language_keys: Vec<&str> = entries
                        .iter()
                        .map(|(k, _)| k.text.as_str())
                        .filter(|k| self.languages.iter().any(|l| l == k))
                        .collect();
                    for (key, value) in entries {
                        if VOICE_KEYS.contains(&key.text.as_str()) {
                            let language = language_keys.first().copied().unwrap_or("en");
                            self.error(key.at, path, format!("`{}` is a voice, so it cannot sit beside the language `{language}`; put the voice wordings under `{language}:`", key.text));
                            continue;
                        }
                        if !self.languages.contains(&key.text) {
                            let known: Vec<&str> =
                                self.languages.iter().map(String::as_str).chain(VOICE_KEYS.iter().copied()).collect();
                            let hint = did_you_mean(&key.text, known.iter().copied()).unwrap_or_else(|| {
                                format!(
                                    "use a language from `languages` ({}) or a voice ({})",
                                    self.languages.join(", "),
                                    VOICE_KEYS.join(", ")
                                )
                            });
                            self.error(
                                key.at,
                                path,
                                format!("`{}` is neither a declared language nor a voice", key.text),
                            )
                            .hint(hint);
                            continue;
                        }
                        let lang_path = child(path, &key.text);
                        let wording = match &value.kind {
                            NodeKind::Scalar { .. } => self
                                .nonempty(value, &lang_path)
                                .map(|s| VoiceText { default: Some(s), by_voice: BTreeMap::new() }),
                            NodeKind::Map(_) => self.voice_text(value, &lang_path),
                            NodeKind::Seq(_) => {
                                self.error(value.at, &lang_path, "expected wording, found a list");
                                None
                            }
                        };
                        if let Some(w) = wording {
                            by_language.insert(key.text.clone(), w);
                        }
                    }
                    Text { by_language }
                }
            }
            NodeKind::Seq(_) => {
                self.error(node.at, path, "expected wording, found a list");
                return None;
            }
        };
        self.texts.push(TextSite { at: node.at, path: path.to_string(), text: text.clone(), scope });
        Some(text)
    }

    pub(super) fn nonempty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            self.error(node.at, path, "the wording is empty");
            return None;
        }
        Some(s)
    }

    pub(super) fn voice_text(&mut self, node: &Node, path: &str) -> Option<VoiceText> {
        let fields = self.fields(node, path, VOICE_KEYS, "wording per voice")?;
        let mut text = VoiceText::default();
        for key in VOICE_KEYS {
            if let Some(value) = fields.get(key) {
                let s = self.nonempty(value, &fields.child(key))?;
                match Voice::from_code(key) {
                    Some(voice) => {
                        text.by_voice.insert(voice, s);
                    }
                    None => text.default = Some(s),
                }
            }
        }
        Some(text)
    }

    pub(super) fn choice<T: Copy>(&mut self, node: &Node, path: &str, choices: &[(&str, T)], what: &str) -> Option<T> {
        let value = self.string(node, path)?;
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let hint =
            did_you_mean(&value, names.iter().copied()).unwrap_or_else(|| format!("use one of: {}", names.join(", ")));
        self.error(node.at, path, format!("`{value}` is not a {what}")).hint(hint);
        None
    }

    pub fn voice(&mut self, node: &Node, path: &str) -> Option<Voice> {
        let choices: Vec<(&str, Voice)> = Voice::ALL.iter().map(|v| (v.code(), *v)).collect();
        self.choice(node, path, &choices, "voice")
    }

    // ---- the survey -------------------------------------------------------
}
