//! Reading pages: each question's kind, options, Likert items, error
//! wording, `show_if` condition and `depends_on` list.

use super::*;

impl Decoder {
    /// Reads a list of answer options, written in a page or an option set.
    pub(super) fn options(
        &mut self,
        node: &Node,
        path: &str,
        owner: OptionOwner,
        scope: TextScope,
    ) -> Vec<AnswerOption> {
        let Some(items) = self.list(node, path) else { return Vec::new() };
        let mut out: Vec<AnswerOption> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let page = match owner {
            OptionOwner::Page(p) => Some(p),
            OptionOwner::Set(_) => None,
        };
        for (i, entry) in items.iter().enumerate() {
            let opath = item(path, i, entry_label(entry));
            let Some(f) = self.fields(entry, &opath, OPTION_KEYS, "an answer option") else { continue };
            let code = self.required(&f, "code").and_then(|n| self.string(n, &f.child("code")));
            let label = self.required(&f, "label").and_then(|n| self.text(n, &f.child("label"), scope));
            let score = f.get("score").and_then(|n| self.number(n, &f.child("score")));
            let missing = f.get("missing").and_then(|n| {
                let choices: Vec<(&str, MissingKind)> = MissingKind::ALL.iter().map(|m| (m.code(), *m)).collect();
                self.choice(n, &f.child("missing"), &choices, "kind of missing answer")
            });
            let exclusive = f.get("exclusive").and_then(|n| self.bool(n, &f.child("exclusive"))).unwrap_or(false);
            let voice = f.get("voice").and_then(|n| self.voice(n, &f.child("voice")));
            if f.get("voice").is_some() {
                match page {
                    Some(p) => self.sites.voice_option_sites.push((p, f.key_at("voice"), f.child("voice"))),
                    None => {
                        self.error(
                            f.key_at("voice"),
                            &f.child("voice"),
                            "`voice` belongs only in the voice question's own options, not in a shared option set",
                        );
                    }
                }
            }
            let voices = f.get("voices").map(|n| self.voices_list(n, &f.child("voices")));
            let Some(code) = code else { continue };
            self.sites.option_sites.insert((owner.clone(), code.clone()), (entry.at, opath.clone()));
            // `score:0` (no space) reads as an unknown key, already reported.
            let mangled_score = f.entries.iter().any(|(k, _)| k.text.starts_with("score:"));
            if (f.get("score").is_some() && score.is_none()) || mangled_score {
                self.sites.unreadable_scores.insert((owner.clone(), code.clone()));
            }
            let Some(label) = label else { continue };
            if let Some(line) = seen.get(&code) {
                self.error(
                    f.key_at("code"),
                    &f.child("code"),
                    format!("option code `{code}` is used twice (first on line {line})"),
                );
                continue;
            }
            seen.insert(code.clone(), f.key_at("code").line);
            if let Some(kind) = missing
                && score.is_some()
            {
                self.error(
                    f.key_at("score"),
                    &f.child("score"),
                    format!("an option marked `missing: {}` is never scored, so it cannot have a score", kind.code()),
                )
                .hint("remove the score, or remove `missing` if this answer should count");
            }
            if voices.is_some() && page.is_none() {
                self.error(
                    f.key_at("voices"),
                    &f.child("voices"),
                    "`voices` can only limit an option written inside a question, not in a shared option set",
                );
            }
            let option =
                AnswerOption { code, label, score, missing, exclusive, voice, voices: voices.unwrap_or_default() };
            self.check(&option, &f);
            out.push(option);
        }
        if items.is_empty() {
            self.error(node.at, path, "the list of options is empty");
        }
        out
    }

    /// `depends_on`: one question id or a list of them; checked against
    /// the pages once all are read.
    pub(super) fn depends_on(&mut self, node: &Node, path: &str, page: usize) -> Vec<String> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut ids = Vec::new();
        for item in items {
            let Some(id) = self.string(item, path) else { continue };
            self.sites.depends_on.push((page, id.clone(), item.at, path.to_string()));
            ids.push(id);
        }
        ids
    }

    pub(super) fn voices_list(&mut self, node: &Node, path: &str) -> Vec<Voice> {
        let Some(items) = self.list(node, path) else { return Vec::new() };
        items.iter().filter_map(|n| self.voice(n, path)).collect()
    }

    pub(super) fn pages(
        &mut self,
        node: &Node,
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
    ) -> Vec<Option<Page>> {
        let Some(items) = self.list(node, "pages") else { return Vec::new() };
        if items.is_empty() {
            self.error(node.at, "pages", "the survey has no pages");
        }
        let mut out = Vec::new();
        for (index, entry) in items.iter().enumerate() {
            let path = item("pages", index, entry_label(entry));
            self.sites.pages.push((entry.at, path.clone()));
            out.push(self.page(entry, &path, index, option_sets));
        }
        out
    }

    pub(super) fn page(
        &mut self,
        node: &Node,
        path: &str,
        index: usize,
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
    ) -> Option<Page> {
        let f = self.fields(node, path, QUESTION_KEYS, "a page with its question")?;
        let sets_voice = f.get("sets_voice").and_then(|n| self.bool(n, &f.child("sets_voice"))).unwrap_or(false);
        // The voice question is read before anyone's voice is known.
        let scope = if sets_voice { TextScope::BeforeVoice } else { TextScope::Page(index) };
        let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
        if let (Some(id), Some(n)) = (&id, f.get("id"))
            && let Err(e) = identifier(id)
        {
            self.error(n.at, &f.child("id"), format!("`{id}` {}", e.message.unwrap_or_default()));
        }
        let type_name = self.required(&f, "type").and_then(|n| {
            let choices: Vec<(&str, &str)> = QUESTION_TYPES.iter().map(|t| (*t, *t)).collect();
            self.choice(n, &f.child("type"), &choices, "question type")
        });
        let text = self.required(&f, "text").and_then(|n| self.text(n, &f.child("text"), scope));
        let help = f.get("help").and_then(|n| self.text(n, &f.child("help"), scope));
        let required = f.get("required").and_then(|n| self.bool(n, &f.child("required"))).unwrap_or(true);
        if sets_voice && !required {
            self.error(
                f.key_at("required"),
                &f.child("required"),
                "the voice question must be answered, so it cannot be `required: false`",
            );
        }
        let dimension = f.get("dimension").and_then(|n| {
            let choices: Vec<(&str, Dimension)> = Dimension::ALL.iter().map(|d| (d.code(), *d)).collect();
            self.choice(n, &f.child("dimension"), &choices, "grouping dimension")
        });
        if let Some(d) = dimension {
            self.sites.dimension_sites.push((d, f.key_at("dimension"), f.child("dimension")));
        }
        let domain = f.get("domain").and_then(|n| self.string(n, &f.child("domain")));
        // A Likert group's `domain` is its items' default, not an item itself.
        if let (Some(d), Some(qid), false) = (&domain, &id, type_name == Some("likert_group")) {
            self.sites.domain_refs.push((index, qid.clone(), f.key_at("domain"), f.child("domain"), d.clone()));
        }
        let show_if = f.get("show_if").and_then(|n| self.condition(n, &f.child("show_if"), index));
        if f.get("show_if").is_some() && show_if.is_none() {
            self.sites.bad_conditions.insert(index);
        }
        let depends_on =
            f.get("depends_on").map(|n| self.depends_on(n, &f.child("depends_on"), index)).unwrap_or_default();
        let errors = f.get("errors").map(|n| self.errors(n, &f.child("errors"), scope)).unwrap_or_default();

        let kind = match type_name {
            Some(t) => self.kind(t, &f, (index, scope), option_sets, dimension, domain.as_deref()),
            None => None,
        };
        self.forbid_foreign_keys(&f, type_name, dimension);

        if let Some(id) = &id {
            self.sites.question_ids.push((id.clone(), index, f.key_at("id"), f.child("id")));
        }
        let (id, text, kind) = (id?, text?, kind?);
        Some(Page {
            id: id.clone(),
            show_if,
            depends_on,
            question: Question { id, text, help, required, kind, domain, dimension, sets_voice, errors },
        })
    }

    /// Keys that belong to another question type are mistakes worth naming.
    pub(super) fn forbid_foreign_keys(
        &mut self,
        f: &Fields<'_>,
        type_name: Option<&str>,
        dimension: Option<Dimension>,
    ) {
        let Some(t) = type_name else { return };
        let allowed: &[&str] = match t {
            "single_choice" => &["options", "option_set"],
            "multiple_choice" => &["options", "option_set", "min_selected", "max_selected"],
            "likert_group" => &["options", "option_set", "items"],
            "number" => &["min", "max", "decimals", "unit"],
            "date" => &["min", "max"],
            _ => &["max_length", "multiline"],
        };
        for key in [
            "options",
            "option_set",
            "items",
            "min_selected",
            "max_selected",
            "min",
            "max",
            "decimals",
            "unit",
            "max_length",
            "multiline",
        ] {
            let ics_options = dimension == Some(Dimension::Ics) && matches!(key, "options" | "option_set");
            if f.get(key).is_some() && (!allowed.contains(&key) || ics_options) {
                let message = if ics_options {
                    "the ICS question takes its options from the reference list of ICSs, so it has no `options` or `option_set`".to_string()
                } else {
                    format!("`{key}` does not apply to a `{t}` question")
                };
                self.error(f.key_at(key), &f.child(key), message);
            }
        }
    }

    pub(super) fn kind(
        &mut self,
        type_name: &str,
        f: &Fields<'_>,
        (page, scope): (usize, TextScope),
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
        dimension: Option<Dimension>,
        domain: Option<&str>,
    ) -> Option<QuestionKind> {
        match type_name {
            "single_choice" if dimension == Some(Dimension::Ics) => Some(QuestionKind::IcsSelect),
            "single_choice" => {
                Some(QuestionKind::SingleChoice { options: self.question_options(f, page, scope, option_sets)? })
            }
            "multiple_choice" => {
                let options = self.question_options(f, page, scope, option_sets)?;
                let min_selected = f.get("min_selected").and_then(|n| self.whole(n, &f.child("min_selected")));
                let max_selected = f.get("max_selected").and_then(|n| self.whole(n, &f.child("max_selected")));
                if let (Some(lo), Some(hi)) = (min_selected, max_selected)
                    && lo > hi
                {
                    self.error(
                        f.key_at("min_selected"),
                        &f.child("min_selected"),
                        format!("min_selected ({lo}) is more than max_selected ({hi})"),
                    );
                }
                if let Some(hi) = max_selected
                    && (hi == 0 || hi as usize > options.len())
                {
                    self.error(
                        f.key_at("max_selected"),
                        &f.child("max_selected"),
                        format!("max_selected must be from 1 to the number of options ({})", options.len()),
                    );
                }
                Some(QuestionKind::MultipleChoice { options, min_selected, max_selected })
            }
            "likert_group" => {
                let options = self.question_options(f, page, scope, option_sets);
                let items_node = self.required(f, "items")?;
                let items = self.likert_items(items_node, &f.child("items"), page, domain);
                Some(QuestionKind::LikertGroup { options: options?, items })
            }
            "number" => {
                let min = self.required(f, "min").and_then(|n| self.number(n, &f.child("min")));
                let max = self.required(f, "max").and_then(|n| self.number(n, &f.child("max")));
                let decimals = f.get("decimals").and_then(|n| self.whole(n, &f.child("decimals"))).unwrap_or(0);
                if decimals > 6 {
                    self.error(f.key_at("decimals"), &f.child("decimals"), "decimals must be from 0 to 6");
                }
                let unit = f.get("unit").and_then(|n| self.text(n, &f.child("unit"), TextScope::Page(page)));
                let (min, max) = (min?, max?);
                if min > max {
                    self.error(f.key_at("min"), &f.child("min"), format!("min ({min}) is more than max ({max})"));
                }
                Some(QuestionKind::Number { min, max, decimals, unit })
            }
            "date" => {
                let min = f.get("min").and_then(|n| self.date_bound(n, &f.child("min")));
                let max = f.get("max").and_then(|n| self.date_bound(n, &f.child("max")));
                if let (Some(DateBound::Fixed(lo)), Some(DateBound::Fixed(hi))) = (min, max)
                    && lo > hi
                {
                    self.error(f.key_at("min"), &f.child("min"), format!("min ({lo}) is after max ({hi})"));
                }
                Some(QuestionKind::Date { min, max })
            }
            _ => {
                let max_length = self.required(f, "max_length").and_then(|n| self.whole(n, &f.child("max_length")));
                let multiline = f.get("multiline").and_then(|n| self.bool(n, &f.child("multiline"))).unwrap_or(false);
                let max_length = max_length?;
                if !(1..=5000).contains(&max_length) {
                    self.error(
                        f.key_at("max_length"),
                        &f.child("max_length"),
                        format!("{max_length} must be from 1 to 5000 characters"),
                    );
                }
                Some(QuestionKind::FreeText { max_length, multiline })
            }
        }
    }

    pub(super) fn date_bound(&mut self, node: &Node, path: &str) -> Option<DateBound> {
        if matches!(&node.kind, NodeKind::Scalar { text, .. } if text == "today") {
            return Some(DateBound::Today);
        }
        self.date(node, path).map(DateBound::Fixed)
    }

    pub(super) fn question_options(
        &mut self,
        f: &Fields<'_>,
        page: usize,
        scope: TextScope,
        option_sets: &BTreeMap<String, Vec<AnswerOption>>,
    ) -> Option<Vec<AnswerOption>> {
        match (f.get("options"), f.get("option_set")) {
            (Some(_), Some(_)) => {
                self.error(f.key_at("option_set"), &f.path, "give either `options` or `option_set`, not both");
                None
            }
            (Some(node), None) => Some(self.options(node, &f.child("options"), OptionOwner::Page(page), scope)),
            (None, Some(node)) => {
                let name = self.string(node, &f.child("option_set"))?;
                self.sites.page_option_sets.insert(page, name.clone());
                match option_sets.get(&name) {
                    Some(options) => Some(options.clone()),
                    None => {
                        let hint = did_you_mean(&name, option_sets.keys().map(String::as_str))
                            .unwrap_or_else(|| "declare it under `option_sets`".into());
                        self.error(node.at, &f.child("option_set"), format!("unknown option set `{name}`")).hint(hint);
                        None
                    }
                }
            }
            (None, None) => {
                let misspelt = ["options", "option_set"]
                    .iter()
                    .any(|k| self.sites.typo_keys.contains(&(f.path.clone(), k.to_string())));
                if !misspelt {
                    self.error(f.node.at, &f.path, "a choice question needs `options` or `option_set`");
                }
                None
            }
        }
    }

    pub(super) fn likert_items(
        &mut self,
        node: &Node,
        path: &str,
        page: usize,
        group_domain: Option<&str>,
    ) -> Vec<LikertItem> {
        let Some(entries) = self.list(node, path) else { return Vec::new() };
        if entries.len() < 2 {
            self.error(node.at, path, "a Likert group needs at least two items; use a single_choice question for one");
        }
        let mut out = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let ipath = item(path, i, entry_label(entry));
            let Some(f) = self.fields(entry, &ipath, ITEM_KEYS, "a Likert item") else { continue };
            let id = self.required(&f, "id").and_then(|n| self.string(n, &f.child("id")));
            let text = self.required(&f, "text").and_then(|n| self.text(n, &f.child("text"), TextScope::Page(page)));
            let domain = f.get("domain").and_then(|n| self.string(n, &f.child("domain")));
            let required = f.get("required").and_then(|n| self.bool(n, &f.child("required"))).unwrap_or(true);
            if let Some(id) = &id {
                self.sites.question_ids.push((id.clone(), page, f.key_at("id"), f.child("id")));
            }
            let (Some(id), Some(text)) = (id, text) else { continue };
            if let Some(d) = domain.as_deref().or(group_domain) {
                let at = if domain.is_some() { f.key_at("domain") } else { f.node.at };
                self.sites.domain_refs.push((page, id.clone(), at, f.child("domain"), d.to_string()));
            }
            let likert = LikertItem { id, text, domain, required };
            self.check(&likert, &f);
            out.push(likert);
        }
        out
    }

    pub(super) fn errors(&mut self, node: &Node, path: &str, scope: TextScope) -> BTreeMap<Rule, Text> {
        let names: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        let mut out = BTreeMap::new();
        let Some(f) = self.fields(node, path, &names, "error messages per rule") else { return out };
        for rule in Rule::ALL {
            if let Some(n) = f.get(rule.code())
                && let Some(text) = self.text(n, &f.child(rule.code()), scope)
            {
                out.insert(rule, text);
            }
        }
        out
    }

    pub(super) fn condition(&mut self, node: &Node, path: &str, page: usize) -> Option<Condition> {
        let source = self.string(node, path)?;
        match condition::parse(&source) {
            Ok(expr) => {
                self.conditions.push(PendingCondition {
                    page,
                    node: node.clone(),
                    path: path.to_string(),
                    expr: expr.clone(),
                });
                Some(Condition { source, expr })
            }
            Err(e) => {
                let at = node.text_pos(&self.source, e.offset);
                self.error(at, path, format!("cannot read the condition: {}", e.message))
                    .hint("conditions look like `q_help == 'yes' and voice != 'carer_self'`");
                None
            }
        }
    }
}
