//! Checks that need the whole survey: ids, the voice question, scoring,
//! demographic codes, conditions, reachable pages and complete wording.

use std::collections::{BTreeMap, BTreeSet};

use super::condition::{CmpOp, Expr, LiteralValue, QuestionRef, Subject};
use super::decode::{Decoder, OptionOwner, PartialSurvey, TextScope};
use super::diagnostics::{Diagnostic, did_you_mean};
use super::model::*;
use super::yaml::{Node, Pos};

impl Decoder {
    /// Runs every whole-survey check and builds the definition if nothing is wrong.
    pub(super) fn finish(
        mut self,
        partial: PartialSurvey,
        content_hash: String,
    ) -> Result<SurveyDefinition, Vec<Diagnostic>> {
        let pages_complete = partial.pages.iter().all(Option::is_some);
        let pages: Vec<Page> = partial.pages.iter().flatten().cloned().collect();
        let page_of = self.check_unique_ids();
        let voices = if pages_complete { self.check_voice_question(&pages) } else { Voice::ALL.to_vec() };
        let voices = if voices.is_empty() { Voice::ALL.to_vec() } else { voices };
        let mut domains = partial.domains.clone();
        if pages_complete {
            self.check_scoring(&pages, &mut domains);
            self.check_dimensions(&pages);
            self.check_option_voices(&pages, &voices);
            self.check_conditions(&pages, &page_of, &voices);
            self.check_depends_on(&page_of);
        }
        let reach = if pages_complete { self.reachability(&pages, &page_of, &voices) } else { Vec::new() };
        self.check_texts(&voices, &reach, &partial.languages);
        self.check_messages(&partial.languages, &partial.messages);

        if !self.diags.is_empty() {
            return Err(self.diags.into_sorted());
        }
        let (Some(id), Some(version), Some(title)) = (partial.id, partial.version, partial.title) else {
            unreachable!("a missing id, version or title is always reported")
        };
        Ok(SurveyDefinition {
            id,
            version,
            title,
            languages: partial.languages,
            opens: partial.opens,
            closes: partial.closes,
            retention_months: partial.retention_months,
            about: partial.about,
            messages: partial.messages,
            domains,
            pages,
            voices,
            content_hash,
        })
    }

    /// Question and Likert item ids share one namespace: answers are keyed by them.
    fn check_unique_ids(&mut self) -> BTreeMap<String, usize> {
        let mut page_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
        for (id, page, at, path) in self.sites.question_ids.clone() {
            if let Some(line) = first_line.get(&id) {
                self.diags
                    .error(at, &path, format!("the id `{id}` is already used on line {line}"))
                    .hint("every question and Likert item needs its own id, because answers are stored by id");
                continue;
            }
            first_line.insert(id.clone(), at.line);
            page_of.insert(id, page);
        }
        page_of
    }

    fn page_site(&self, index: usize) -> (Pos, String) {
        self.sites.pages.get(index).cloned().unwrap_or((self.sites.root, "pages".into()))
    }

    fn check_voice_question(&mut self, pages: &[Page]) -> Vec<Voice> {
        let voice_pages: Vec<usize> =
            pages.iter().enumerate().filter(|(_, p)| p.question.sets_voice).map(|(i, _)| i).collect();
        let Some(&first) = voice_pages.first() else {
            let (at, _) = self.pages_key_site();
            let with_voices =
                self.sites.voice_option_sites.first().and_then(|(p, _, _)| pages.get(*p)).map(|p| p.id.clone());
            let hint = match with_voices {
                Some(id) => format!("page `{id}` gives its options a `voice:`; add `sets_voice: true` to it"),
                None => "make the first question say who is answering: add `sets_voice: true` and give each option a `voice:` (patient, carer_self or carer_on_behalf)".into(),
            };
            self.diags.error(at, "pages", "no question sets the voice").hint(hint);
            return Vec::new();
        };
        for (page, at, path) in self.sites.voice_option_sites.clone() {
            if !voice_pages.contains(&page) {
                self.diags
                    .error(at, &path, "`voice` is only allowed on the options of the voice question")
                    .hint("mark the question with `sets_voice: true`, or remove `voice`");
            }
        }
        for &extra in &voice_pages[1..] {
            let (at, path) = self.page_site(extra);
            self.diags.error(at, &path, "only one question may set the voice");
        }
        let (at, path) = self.page_site(first);
        if first != 0 {
            self.diags
                .error(at, &path, format!("the voice question must be the first page, but it is page {}", first + 1))
                .hint("move it to the top of `pages`: every later wording depends on it");
        }
        let question = &pages[first].question;
        if pages[first].show_if.is_some() {
            self.diags.error(at, &path, "the voice question is always asked, so it cannot have `show_if`");
        }
        if question.domain.is_some() {
            self.diags.error(at, &path, "the voice question cannot be scored");
        }
        let QuestionKind::SingleChoice { options } = &question.kind else {
            self.diags.error(at, &path, "the voice question must be a `single_choice` question");
            return Vec::new();
        };
        let mut voices = Vec::new();
        for option in options {
            match option.voice {
                None => {
                    let (at, path) =
                        self.option_site(&OptionOwner::Page(first), &option.code).unwrap_or((at, path.clone()));
                    self.diags
                        .error(
                            at,
                            &path,
                            format!(
                                "option `{}` of the voice question does not say which `voice` it sets",
                                option.code
                            ),
                        )
                        .hint("add `voice: patient`, `voice: carer_self` or `voice: carer_on_behalf`");
                }
                Some(v) if voices.contains(&v) => {
                    self.diags.error(at, &path, format!("two options of the voice question set the voice `{v}`"));
                }
                Some(v) => voices.push(v),
            }
        }
        voices
    }

    fn option_site(&self, owner: &OptionOwner, code: &str) -> Option<(Pos, String)> {
        self.sites.option_sites.get(&(owner.clone(), code.to_string())).cloned()
    }

    fn pages_key_site(&self) -> (Pos, String) {
        self.sites.pages.first().cloned().unwrap_or((self.sites.root, "pages".into()))
    }

    fn check_scoring(&mut self, pages: &[Page], domains: &mut [Domain]) {
        let mut items: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut unknown_domain = false;
        let mut scored_sets: BTreeSet<String> = BTreeSet::new();
        for (page, item_id, at, path, domain) in self.sites.domain_refs.clone() {
            if !domains.iter().any(|d| d.id == domain) {
                let hint = did_you_mean(&domain, domains.iter().map(|d| d.id.as_str()))
                    .unwrap_or_else(|| "declare it under `domains`".into());
                self.diags.error(at, &path, format!("unknown domain `{domain}`")).hint(hint);
                unknown_domain = true;
                continue;
            }
            let Some(p) = pages.get(page) else { continue };
            let options = match &p.question.kind {
                QuestionKind::SingleChoice { options } | QuestionKind::LikertGroup { options, .. } => options,
                other => {
                    self.diags
                        .error(at, &path, format!("a `{}` question cannot be scored; only single_choice questions and Likert items belong to a domain", other.name()));
                    continue;
                }
            };
            if let Some(set) = self.sites.page_option_sets.get(&page) {
                // Reported once per option, at the option set, below.
                scored_sets.insert(set.clone());
                items.entry(domain).or_default().push(item_id);
                continue;
            }
            let owner = OptionOwner::Page(page);
            let unscored: Vec<&str> = options
                .iter()
                .filter(|o| o.missing.is_none() && o.score.is_none())
                .filter(|o| !self.sites.unreadable_scores.contains(&(owner.clone(), o.code.clone())))
                .map(|o| o.code.as_str())
                .collect();
            if !unscored.is_empty() {
                self.diags
                    .error(at, &path, format!("`{item_id}` is scored in domain `{domain}`, but these options have no score: {}", unscored.join(", ")))
                    .hint("give every option a `score` from 0 to 100, or mark it `missing: dont_know`, `not_applicable` or `prefer_not_to_say`");
            }
            items.entry(domain).or_default().push(item_id);
        }
        for ((owner, code), (at, path)) in self.sites.option_sites.clone() {
            let OptionOwner::Set(set) = &owner else { continue };
            if !scored_sets.contains(set) || self.sites.unreadable_scores.contains(&(owner.clone(), code.clone())) {
                continue;
            }
            if self.option_set_lacks_score(pages, set, &code) {
                self.diags
                    .error(at, &path, format!("option `{code}` has no score, but scored questions use this option set"))
                    .hint("give it a `score` from 0 to 100, or mark it `missing: dont_know`, `not_applicable` or `prefer_not_to_say`");
            }
        }
        for domain in domains.iter_mut() {
            domain.items = items.remove(&domain.id).unwrap_or_default();
            if unknown_domain {
                // A misspelt domain name would make the count misleading.
                if domain.min_answered == 0 {
                    domain.min_answered = domain.items.len().div_ceil(2).max(1) as u32;
                }
                continue;
            }
            let (at, path) = self.sites.domains.get(&domain.id).cloned().unwrap_or((self.sites.root, "domains".into()));
            let n = domain.items.len();
            if n < 2 {
                self.diags
                    .error(
                        at,
                        &path,
                        format!(
                            "domain `{}` has {n} scored item{}; a domain needs at least two",
                            domain.id,
                            if n == 1 { "" } else { "s" }
                        ),
                    )
                    .hint("add `domain:` to more questions, or merge this domain with another");
            }
            if domain.min_answered == 0 {
                domain.min_answered = n.div_ceil(2).max(1) as u32;
            } else if domain.min_answered as usize > n && n >= 2 {
                self.diags.error(
                    at,
                    &path,
                    format!("min_answered is {} but the domain has only {n} scored items", domain.min_answered),
                );
            }
        }
    }

    fn check_option_voices(&mut self, pages: &[Page], voices: &[Voice]) {
        for (index, page) in pages.iter().enumerate() {
            for option in page.question.kind.options() {
                for voice in option.voices.iter().filter(|v| !voices.contains(v)) {
                    let (at, path) = self.page_site(index);
                    self.diags.error(
                        at,
                        &format!("{path}.options[{}].voices", option.code),
                        format!("`{voice}` is not a voice of this survey"),
                    );
                }
            }
        }
    }

    /// Whether an option set's option has no score, as copied into a page
    /// that uses the set.
    fn option_set_lacks_score(&self, pages: &[Page], set: &str, code: &str) -> bool {
        self.sites
            .page_option_sets
            .iter()
            .filter(|(_, s)| s.as_str() == set)
            .filter_map(|(p, _)| pages.get(*p))
            .flat_map(|p| p.question.kind.options())
            .any(|o| o.code == code && o.missing.is_none() && o.score.is_none())
    }

    fn check_dimensions(&mut self, pages: &[Page]) {
        let mut seen: BTreeMap<Dimension, usize> = BTreeMap::new();
        for (dimension, at, path) in self.sites.dimension_sites.clone() {
            if let Some(line) = seen.get(&dimension) {
                self.diags.error(
                    at,
                    &path,
                    format!("the `{}` dimension is already fed by the question on line {line}", dimension.code()),
                );
                continue;
            }
            seen.insert(dimension, at.line);
            let Some(page) =
                self.sites.pages.iter().position(|(_, p)| path.starts_with(p.as_str())).and_then(|i| pages.get(i))
            else {
                continue;
            };
            let q = &page.question;
            match (dimension, &q.kind) {
                (Dimension::Ics, QuestionKind::IcsSelect) => {}
                (Dimension::LongTermCondition, QuestionKind::MultipleChoice { options, .. }) => {
                    if !options.iter().any(|o| o.code == "none" && o.exclusive) {
                        self.diags
                            .error(at, &path, "the long-term condition list needs an option with code `none` and `exclusive: true`")
                            .hint("answers are grouped as none / one / two or more conditions, so \"none\" must be a choice of its own");
                    }
                }
                (
                    Dimension::AgeBand | Dimension::Sex | Dimension::Ethnicity,
                    QuestionKind::SingleChoice { options },
                ) => {
                    let allowed = dimension.categories();
                    let bad: Vec<&str> = options
                        .iter()
                        .filter(|o| o.missing.is_none() && !allowed.contains(&o.code.as_str()))
                        .map(|o| o.code.as_str())
                        .collect();
                    if !bad.is_empty() {
                        self.diags
                            .error(
                                at,
                                &path,
                                format!("options {} are not `{}` categories", bad.join(", "), dimension.code()),
                            )
                            .hint(format!(
                                "use the codes {} (mark other answers `missing: prefer_not_to_say`)",
                                allowed.join(", ")
                            ));
                    }
                }
                (d, kind) => {
                    let wanted = match d {
                        Dimension::LongTermCondition => "multiple_choice",
                        _ => "single_choice",
                    };
                    self.diags.error(
                        at,
                        &path,
                        format!("the `{}` dimension needs a `{wanted}` question, not `{}`", d.code(), kind.name()),
                    );
                }
            }
        }
    }

    fn check_conditions(&mut self, pages: &[Page], page_of: &BTreeMap<String, usize>, voices: &[Voice]) {
        let kinds: BTreeMap<&str, &QuestionKind> = pages
            .iter()
            .flat_map(|p| {
                let q = &p.question;
                let mut ids = vec![(q.id.as_str(), &q.kind)];
                if let QuestionKind::LikertGroup { items, .. } = &q.kind {
                    ids.extend(items.iter().map(|i| (i.id.as_str(), &q.kind)));
                }
                ids
            })
            .collect();
        for pending in self.conditions.clone() {
            if pages.get(pending.page).is_some_and(|p| p.question.sets_voice) {
                continue;
            }
            for (voice, offset) in pending.expr.voice_literals() {
                if !voices.iter().any(|v| v.code() == voice) {
                    self.sites.bad_conditions.insert(pending.page);
                    let hint = did_you_mean(&voice, voices.iter().map(|v| v.code()))
                        .unwrap_or_else(|| format!("this survey's voices are {}", voice_list(voices)));
                    self.diags
                        .error(
                            pending.node.text_pos(&self.source, offset),
                            &pending.path,
                            format!("`{voice}` is not a voice of this survey"),
                        )
                        .hint(hint);
                }
            }
            let mut bad_refs = BTreeSet::new();
            for QuestionRef { id, offset } in pending.expr.question_refs() {
                let at = pending.node.text_pos(&self.source, *offset);
                match page_of.get(id) {
                    None => {
                        let hint = did_you_mean(id, page_of.keys().map(String::as_str))
                            .unwrap_or_else(|| "a condition can use the id of any earlier question".into());
                        self.diags.error(at, &pending.path, format!("unknown question `{id}`")).hint(hint);
                        bad_refs.insert(id.clone());
                    }
                    Some(&p) if p >= pending.page => {
                        let which = if p == pending.page {
                            "this same page".to_string()
                        } else {
                            format!("page {}, which comes later", p + 1)
                        };
                        self.diags
                            .error(at, &pending.path, format!("the condition uses `{id}` from {which}"))
                            .hint("a condition can only use answers given on earlier pages");
                        bad_refs.insert(id.clone());
                    }
                    Some(_) => {}
                }
            }
            let before = self.diags.len();
            self.check_literals(&pending.expr, &kinds, &bad_refs, &pending.node, &pending.path);
            if !bad_refs.is_empty() || self.diags.len() > before {
                self.sites.bad_conditions.insert(pending.page);
            }
        }
    }

    /// Each `depends_on` names a question on an earlier page.
    fn check_depends_on(&mut self, page_of: &BTreeMap<String, usize>) {
        for (page, id, at, path) in std::mem::take(&mut self.sites.depends_on) {
            match page_of.get(&id) {
                None => {
                    let hint = did_you_mean(&id, page_of.keys().map(String::as_str))
                        .unwrap_or_else(|| "`depends_on` lists ids of earlier questions".into());
                    self.diags.error(at, &path, format!("unknown question `{id}`")).hint(hint);
                }
                Some(&p) if p >= page => {
                    let which = if p == page {
                        "this same page".to_string()
                    } else {
                        format!("page {}, which comes later", p + 1)
                    };
                    self.diags
                        .error(at, &path, format!("`depends_on` names `{id}` from {which}"))
                        .hint("a page can only depend on answers given on earlier pages");
                }
                Some(_) => {}
            }
        }
    }

    /// Compares a question with values it can actually hold.
    fn check_literals(
        &mut self,
        expr: &Expr,
        kinds: &BTreeMap<&str, &QuestionKind>,
        skip: &BTreeSet<String>,
        node: &Node,
        path: &str,
    ) {
        match expr {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.check_literals(a, kinds, skip, node, path);
                self.check_literals(b, kinds, skip, node, path);
            }
            Expr::Not(a) => self.check_literals(a, kinds, skip, node, path),
            Expr::Answered(_) => {}
            Expr::Compare { subject: Subject::Question(q), op, value } => {
                if let Some(kind) = kinds.get(q.id.as_str()).filter(|_| !skip.contains(&q.id)) {
                    self.check_literal(q, kind, Some(*op), value, node, path);
                }
            }
            Expr::In { subject: Subject::Question(q), values } => {
                if let Some(kind) = kinds.get(q.id.as_str()).filter(|_| !skip.contains(&q.id)) {
                    for value in values {
                        self.check_literal(q, kind, None, value, node, path);
                    }
                }
            }
            Expr::Contains { subject, value } => {
                if let Some(kind) = kinds.get(subject.id.as_str()).filter(|_| !skip.contains(&subject.id)) {
                    if !matches!(kind, QuestionKind::MultipleChoice { .. }) {
                        self.diags
                            .error(
                                node.text_pos(&self.source, subject.offset),
                                path,
                                format!(
                                    "`contains` only works on multiple_choice questions; `{}` is {}",
                                    subject.id,
                                    kind.name()
                                ),
                            )
                            .hint("use `==` to compare a single answer");
                    } else {
                        self.check_code(subject, kind, value, node, path);
                    }
                }
            }
            Expr::Compare { .. } | Expr::In { .. } => {}
        }
    }

    fn check_literal(
        &mut self,
        q: &QuestionRef,
        kind: &QuestionKind,
        op: Option<CmpOp>,
        value: &super::condition::Literal,
        node: &Node,
        path: &str,
    ) {
        let here = node.text_pos(&self.source, value.offset);
        match kind {
            QuestionKind::SingleChoice { .. } | QuestionKind::LikertGroup { .. } => {
                if op.is_some_and(CmpOp::is_ordering) {
                    self.diags.error(
                        node.text_pos(&self.source, q.offset),
                        path,
                        format!("`{}` is a choice; compare it with `==`, `!=` or `in`", q.id),
                    );
                } else {
                    self.check_code(q, kind, value, node, path);
                }
            }
            QuestionKind::MultipleChoice { .. } => {
                self.diags.error(
                    node.text_pos(&self.source, q.offset),
                    path,
                    format!("`{}` allows several answers; use `{} contains '...'`", q.id, q.id),
                );
            }
            QuestionKind::Number { .. } => {
                if !matches!(value.value, LiteralValue::Number(_)) {
                    self.diags.error(
                        here,
                        path,
                        format!("`{}` is a number question, so compare it with a number", q.id),
                    );
                }
            }
            QuestionKind::Date { .. } => {
                let ok = matches!(&value.value, LiteralValue::Text(t) if chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok());
                if !ok {
                    self.diags.error(
                        here,
                        path,
                        format!(
                            "`{}` is a date question, so compare it with a date in quotes, like '2026-01-31'",
                            q.id
                        ),
                    );
                }
            }
            QuestionKind::IcsSelect | QuestionKind::FreeText { .. } => {
                if !matches!(value.value, LiteralValue::Text(_)) {
                    self.diags.error(here, path, format!("`{}` holds text, so compare it with text in quotes", q.id));
                }
            }
        }
    }

    fn check_code(
        &mut self,
        q: &QuestionRef,
        kind: &QuestionKind,
        value: &super::condition::Literal,
        node: &Node,
        path: &str,
    ) {
        let codes: Vec<&str> = kind.options().iter().map(|o| o.code.as_str()).collect();
        let here = node.text_pos(&self.source, value.offset);
        match &value.value {
            LiteralValue::Text(t) if codes.contains(&t.as_str()) => {}
            LiteralValue::Text(t) => {
                let hint = did_you_mean(t, codes.iter().copied())
                    .unwrap_or_else(|| format!("its options are: {}", codes.join(", ")));
                self.diags.error(here, path, format!("`{}` has no option `{t}`", q.id)).hint(hint);
            }
            LiteralValue::Number(n) => {
                self.diags
                    .error(
                        here,
                        path,
                        format!("`{}` is a choice; compare it with an option code in quotes, not {n}", q.id),
                    )
                    .hint(format!("its options are: {}", codes.join(", ")));
            }
        }
    }

    /// For each voice, which pages can be shown; a page no voice reaches is an error.
    fn reachability(
        &mut self,
        pages: &[Page],
        page_of: &BTreeMap<String, usize>,
        voices: &[Voice],
    ) -> Vec<BTreeSet<Voice>> {
        let reach = super::model::voices_per_page(pages, page_of, voices);
        for (index, (page, seen_by)) in pages.iter().zip(&reach).enumerate() {
            if seen_by.is_empty() && !self.sites.bad_conditions.contains(&index) {
                let (at, path) = self.page_site(index);
                self.diags
                    .error(
                        at,
                        &path,
                        format!("page `{}` can never be shown: its `show_if` is false for every voice", page.id),
                    )
                    .hint("check the condition, and that the questions it uses can themselves be shown");
            }
        }
        reach
    }

    fn check_texts(&mut self, voices: &[Voice], reach: &[BTreeSet<Voice>], languages: &[Language]) {
        let all: BTreeSet<Voice> = voices.iter().copied().collect();
        let default_language = languages.first().map(|l| l.code.clone());
        for site in std::mem::take(&mut self.texts) {
            for language in languages {
                if site.scope == TextScope::Analysts && Some(&language.code) != default_language.as_ref() {
                    continue;
                }
                let Some(wording) = site.text.by_language.get(&language.code) else {
                    self.diags
                        .error(site.at, &site.path, format!("no wording in `{}` ({})", language.code, language.name))
                        .hint(format!("every text needs each language in `languages`; add `{}:` here", language.code));
                    continue;
                };
                for voice in wording.by_voice.keys() {
                    if !all.contains(voice) {
                        self.diags.error(
                            site.at,
                            &site.path,
                            format!("wording for `{voice}`, but this survey has no such voice"),
                        );
                    }
                }
                let needed: BTreeSet<Voice> = match site.scope {
                    TextScope::BeforeVoice => {
                        if wording.default.is_none() {
                            self.diags
                                .error(site.at, &site.path, format!("needs a `default` wording in `{}`: it is shown before the respondent says who is answering", language.code));
                        }
                        BTreeSet::new()
                    }
                    TextScope::Page(i) => reach.get(i).cloned().unwrap_or_else(|| all.clone()),
                    TextScope::AllVoices | TextScope::Analysts => all.clone(),
                };
                let missing: Vec<&str> =
                    needed.iter().filter(|v| wording.get(Some(**v)).is_none()).map(|v| v.code()).collect();
                if !missing.is_empty() {
                    self.diags
                        .error(
                            site.at,
                            &site.path,
                            format!("no wording for voice {} in `{}`", missing.join(", "), language.code),
                        )
                        .hint("add the voice's own wording, or a `default:` that suits every voice");
                }
            }
        }
    }

    fn check_messages(&mut self, languages: &[Language], messages: &BTreeMap<String, Text>) {
        for language in languages {
            if super::messages::catalogue(&language.code).is_some() {
                continue;
            }
            let missing: Vec<&str> = super::messages::keys()
                .filter(|k| messages.get(*k).is_none_or(|t| !t.by_language.contains_key(&language.code)))
                .collect();
            if !missing.is_empty() {
                self.diags
                    .error(
                        self.sites.root,
                        "messages",
                        format!(
                            "joinedup has no interface wording in `{}`, so `messages` must give it: missing {}",
                            language.code,
                            missing.join(", ")
                        ),
                    )
                    .hint("see docs/definition-format.md, \"Interface wording\"");
            }
        }
    }
}

fn voice_list(voices: &[Voice]) -> String {
    voices.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    //! Each whole-survey check, on the shipped example with one thing
    //! broken: the message, and the line it points at.

    use crate::definitions::Diagnostic;

    const EXAMPLE: &str = include_str!("../../survey-definitions/format-example.yaml");

    /// The example with `from` replaced by `to` (which must occur once).
    fn broken(from: &str, to: &str) -> Vec<Diagnostic> {
        assert_eq!(EXAMPLE.matches(from).count(), 1, "`{from}` must occur once in the example");
        let source = EXAMPLE.replacen(from, to, 1);
        crate::definitions::parse("example.yaml", &source).expect_err("the broken example must be refused")
    }

    fn line_of(text: &str) -> usize {
        EXAMPLE.lines().position(|l| l.contains(text)).expect("in the example") + 1
    }

    /// The one diagnostic whose message contains `needle`.
    fn find<'d>(diags: &'d [Diagnostic], needle: &str) -> &'d Diagnostic {
        diags.iter().find(|d| d.message.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in {diags:#?}"))
    }

    #[test]
    fn the_shipped_example_passes_every_check() {
        crate::definitions::parse("example.yaml", EXAMPLE).expect("the example is valid");
    }

    #[test]
    fn a_repeated_id_names_the_first_use() {
        let diags = broken("  - id: services\n", "  - id: told_once\n");
        let d = find(&diags, "the id `told_once` is already used on line");
        assert!(d.message.ends_with(&line_of("  - id: told_once").to_string()), "{d}");
        assert_eq!(d.file, "example.yaml");
    }

    #[test]
    fn a_condition_may_only_read_earlier_pages() {
        let diags = broken("show_if: told_once in ['agree', 'neither']", "show_if: services contains 'gp'");
        let d = find(&diags, "the condition uses `services` from page 4, which comes later");
        assert_eq!(d.at.line, line_of("show_if: told_once in ['agree', 'neither']"));
    }

    #[test]
    fn an_unknown_question_in_a_condition_suggests_the_near_one() {
        let diags = broken("show_if: told_once in ['agree', 'neither']", "show_if: told_onse in ['agree', 'neither']");
        let d = find(&diags, "unknown question `told_onse`");
        assert!(d.hint.as_deref().is_some_and(|h| h.contains("told_once")), "{d:?}");
    }

    #[test]
    fn a_condition_must_use_an_option_the_question_has() {
        let diags =
            broken("show_if: told_once in ['agree', 'neither']", "show_if: told_once in ['agree', 'sometimes']");
        find(&diags, "`told_once` has no option `sometimes`");
    }

    #[test]
    fn a_choice_is_not_compared_with_a_number() {
        let diags = broken("show_if: told_once in ['agree', 'neither']", "show_if: told_once == 3");
        find(&diags, "`told_once` is a choice; compare it with an option code in quotes, not 3");
    }

    #[test]
    fn a_page_no_voice_can_reach_is_refused() {
        let diags = broken(
            "show_if: voice in ['carer_self', 'carer_on_behalf']",
            "show_if: voice == 'carer_self' and voice == 'patient'",
        );
        find(&diags, "page `caring_hours` can never be shown: its `show_if` is false for every voice");
    }

    #[test]
    fn a_condition_naming_a_voice_the_survey_lacks_is_refused() {
        let diags =
            broken("show_if: voice in ['carer_self', 'carer_on_behalf']", "show_if: voice in ['carer_self', 'parent']");
        find(&diags, "`parent` is not a voice of this survey");
    }

    #[test]
    fn every_language_needs_wording() {
        let diags = broken("      pl: Pomyśl o ostatnich 12 miesiącach.\n", "");
        let d = find(&diags, "no wording in `pl` (Polski)");
        assert_eq!(d.at.line, line_of("      en: Think about the last 12 months."));
    }

    #[test]
    fn a_scored_question_needs_a_known_domain() {
        let diags = broken(
            "    option_set: agreement\n    domain: coordination\n",
            "    option_set: agreement\n    domain: cordination\n",
        );
        let d = find(&diags, "unknown domain `cordination`");
        assert!(d.hint.as_deref().is_some_and(|h| h.contains("coordination")), "{d:?}");
    }

    #[test]
    fn a_multiple_choice_question_cannot_be_scored() {
        let diags = broken(
            "  - id: services\n    type: multiple_choice\n",
            "  - id: services\n    type: multiple_choice\n    domain: coordination\n",
        );
        find(&diags, "a `multiple_choice` question cannot be scored");
    }

    #[test]
    fn options_that_set_a_voice_need_sets_voice() {
        let diags = broken(
            "  - id: voice\n    type: single_choice\n    sets_voice: true\n",
            "  - id: voice\n    type: single_choice\n",
        );
        find(&diags, "no question sets the voice");
    }

    #[test]
    fn a_domain_cannot_ask_for_more_answers_than_it_has() {
        let diags = broken("    min_answered: 1\n", "    min_answered: 9\n");
        find(&diags, "min_answered is 9 but the domain has only");
    }
}
