//! Reading the survey's own keys: id, languages, about, messages, option
//! sets and domains.

use super::*;

impl Decoder {
    /// Reads the whole document. Returns `None` only when the top level is
    /// unreadable; otherwise a best-effort survey plus any diagnostics.
    pub fn survey(&mut self, root: &Node) -> Option<PartialSurvey> {
        self.sites.root = root.at;
        let f = self.fields(root, "", SURVEY_KEYS, "a survey")?;
        let languages = self.languages_of(&f);
        self.languages = languages.iter().map(|l| l.code.clone()).collect();

        let id = self.required(&f, "id").and_then(|n| self.string(n, "id"));
        if let (Some(id), Some(node)) = (&id, f.get("id"))
            && let Err(e) = identifier(id)
        {
            self.error(node.at, "id", format!("`{id}` {}", e.message.unwrap_or_default()));
        }
        let version = self.required(&f, "version").and_then(|n| self.string(n, "version"));
        if let (Some(v), Some(node)) = (&version, f.get("version"))
            && (v.len() > 40 || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            self.error(node.at, "version", format!("`{v}` must be up to 40 letters, digits, `.`, `-` or `_`"))
                .hint("for example 1.0 or 2026-04");
        }
        let title = self.required(&f, "title").and_then(|n| self.text(n, "title", TextScope::BeforeVoice));
        let opens = f.get("opens").and_then(|n| self.date(n, "opens"));
        let closes = f.get("closes").and_then(|n| self.date(n, "closes"));
        if let (Some(o), Some(c)) = (opens, closes)
            && c < o
        {
            self.error(f.key_at("closes"), "closes", format!("the survey closes ({c}) before it opens ({o})"));
        }
        let retention_months = match f.get("retention_months") {
            None => DEFAULT_RETENTION_MONTHS,
            Some(n) => match self.whole(n, "retention_months") {
                Some(m) if (1..=MAX_RETENTION_MONTHS).contains(&m) => m,
                Some(m) => {
                    self.error(
                        n.at,
                        "retention_months",
                        format!("{m} months is not allowed; keep answers from 1 to {MAX_RETENTION_MONTHS} months"),
                    )
                    .hint("most surveys keep answers for 24 months (2 years)");
                    DEFAULT_RETENTION_MONTHS
                }
                None => DEFAULT_RETENTION_MONTHS,
            },
        };
        let about = f.get("about").map(|n| self.about(n)).unwrap_or_default();
        let messages = f.get("messages").map(|n| self.messages(n)).unwrap_or_default();
        let option_sets = f.get("option_sets").map(|n| self.option_sets(n)).unwrap_or_default();
        let domains = f.get("domains").map(|n| self.domains(n)).unwrap_or_default();
        let pages = match self.required(&f, "pages") {
            Some(node) => self.pages(node, &option_sets),
            None => Vec::new(),
        };
        Some(PartialSurvey {
            id,
            version,
            title,
            languages,
            opens,
            closes,
            retention_months,
            about,
            messages,
            domains,
            pages,
        })
    }

    pub(super) fn languages_of(&mut self, f: &Fields<'_>) -> Vec<Language> {
        let Some(node) = f.get("languages") else {
            return vec![Language { code: "en".into(), name: "English".into(), review: None }];
        };
        let Some(items) = self.list(node, "languages") else { return Vec::new() };
        let mut out: Vec<Language> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item("languages", i, entry_label(entry));
            let Some(lf) = self.fields(entry, &path, LANGUAGE_KEYS, "a language") else { continue };
            let code = self.required(&lf, "code").and_then(|n| self.string(n, &lf.child("code")));
            let name = self.required(&lf, "name").and_then(|n| self.string(n, &lf.child("name")));
            let review = lf.get("review").and_then(|n| self.string(n, &lf.child("review")));
            let (Some(code), Some(name)) = (code, name) else { continue };
            if out.iter().any(|l| l.code == code) {
                self.error(entry.at, &path, format!("language `{code}` is listed twice"));
                continue;
            }
            let language = Language { code, name, review };
            self.check(&language, &lf);
            out.push(language);
        }
        if out.is_empty() {
            self.error(node.at, "languages", "list at least one language; the first is the default");
        }
        out
    }

    pub(super) fn about(&mut self, node: &Node) -> About {
        let Some(f) = self.fields(node, "about", ABOUT_KEYS, "the start-page details") else {
            return About::default();
        };
        let text = |d: &mut Self, key: &str| f.get(key).and_then(|n| d.text(n, &f.child(key), TextScope::BeforeVoice));
        let about = About {
            organisation: text(self, "organisation"),
            purpose: text(self, "purpose"),
            privacy: text(self, "privacy"),
            contact: text(self, "contact"),
            minutes: f.get("minutes").and_then(|n| self.whole(n, "about.minutes")),
        };
        self.check(&about, &f);
        about
    }

    pub(super) fn messages(&mut self, node: &Node) -> BTreeMap<String, Text> {
        let mut out = BTreeMap::new();
        let NodeKind::Map(entries) = &node.kind else {
            self.error(node.at, "messages", format!("expected `key: wording` lines, found {}", node.describe()));
            return out;
        };
        let keys: Vec<&str> = crate::definitions::messages::keys().collect();
        for (key, value) in entries {
            let path = child("messages", &key.text);
            if !keys.contains(&key.text.as_str()) {
                let hint = did_you_mean(&key.text, keys.iter().copied())
                    .unwrap_or_else(|| "see docs/definition-format.md for the message names".into());
                self.error(key.at, "messages", format!("unknown message `{}`", key.text)).hint(hint);
                continue;
            }
            if let Some(text) = self.text(value, &path, TextScope::AllVoices) {
                out.insert(key.text.clone(), text);
            }
        }
        out
    }

    pub(super) fn option_sets(&mut self, node: &Node) -> BTreeMap<String, Vec<AnswerOption>> {
        let mut out = BTreeMap::new();
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.at,
                "option_sets",
                format!("expected `name:` entries each holding a list of options, found {}", node.describe()),
            );
            return out;
        };
        for (key, value) in entries {
            let path = child("option_sets", &key.text);
            if let Err(e) = identifier(&key.text) {
                self.error(key.at, "option_sets", format!("`{}` {}", key.text, e.message.unwrap_or_default()));
            }
            let options = self.options(value, &path, OptionOwner::Set(key.text.clone()), TextScope::AllVoices);
            out.insert(key.text.clone(), options);
        }
        out
    }

    pub(super) fn domains(&mut self, node: &Node) -> Vec<Domain> {
        let Some(items) = self.list(node, "domains") else { return Vec::new() };
        let mut out: Vec<Domain> = Vec::new();
        for (i, entry) in items.iter().enumerate() {
            let path = item("domains", i, entry_label(entry));
            let Some(f) = self.fields(entry, &path, DOMAIN_KEYS, "a domain") else { continue };
            let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
            let label = self.required(&f, "label").and_then(|n| self.text(n, &f.child("label"), TextScope::Analysts));
            let weight = f.get("weight").and_then(|n| self.number(n, &f.child("weight"))).unwrap_or(1.0);
            let min_answered = f.get("min_answered").and_then(|n| self.whole(n, &f.child("min_answered")));
            let (Some(id), Some(label)) = (id, label) else { continue };
            if let Some((at, _)) = self.sites.domains.get(&id) {
                let line = at.line;
                self.error(
                    f.key_at("id"),
                    &f.child("id"),
                    format!("domain `{id}` is declared twice (first on line {line})"),
                );
                continue;
            }
            self.sites.domains.insert(id.clone(), (entry.at, path.clone()));
            let domain = Domain {
                id,
                label,
                weight,
                // Zero means "not given": filled in once the items are known.
                min_answered: min_answered.unwrap_or(0),
                items: Vec::new(),
            };
            if min_answered.is_some() {
                self.check(&domain, &f);
            } else {
                self.check(&Domain { min_answered: 1, ..domain.clone() }, &f);
            }
            out.push(domain);
        }
        out
    }
}
