//! The `show_if` language: a small, side-effect-free boolean expression over
//! earlier answers and the respondent's voice, always evaluated on the server.
//!
//! ```text
//! voice == 'carer_self'
//! q_plan == 'yes' and not (q_help in ['no', 'dont_know'])
//! answered(q_age) or q_hours >= 10
//! q_conditions contains 'dementia'
//! ```
//!
//! A comparison with a question that was not answered (or was hidden) is
//! false; `!=` is exactly `not ==`, so it is true when there is no answer.

use std::collections::BTreeSet;
use std::fmt;

use super::answer::{AnswerValue, Answers};
use super::model::Voice;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Answered(QuestionRef),
    Compare { subject: Subject, op: CmpOp, value: Literal },
    In { subject: Subject, values: Vec<Literal> },
    Contains { subject: QuestionRef, value: Literal },
}

/// A question id as written, with its character offset in the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionRef {
    pub id: String,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Voice { offset: usize },
    Question(QuestionRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub value: LiteralValue,
    pub offset: usize,
}

/// A syntax error at a character offset within the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

fn tokenize(source: &str) -> Result<Vec<(Token, usize)>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' | ')' | '[' | ']' | ',' => {
                tokens.push((
                    match c {
                        '(' => Token::LParen,
                        ')' => Token::RParen,
                        '[' => Token::LBracket,
                        ']' => Token::RBracket,
                        _ => Token::Comma,
                    },
                    start,
                ));
                i += 1;
            }
            '\'' | '"' => {
                let quote = c;
                i += 1;
                let mut text = String::new();
                while i < chars.len() && chars[i] != quote {
                    text.push(chars[i]);
                    i += 1;
                }
                if i == chars.len() {
                    return Err(ParseError {
                        offset: start,
                        message: format!("this text value has no closing {quote}"),
                    });
                }
                i += 1;
                tokens.push((Token::Str(text), start));
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (CmpOp::Eq, 2),
                    ('!', Some('=')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    ('>', _) => (CmpOp::Gt, 1),
                    ('=', _) => {
                        return Err(ParseError {
                            offset: start,
                            message: "`=` on its own is not an operator; use `==` to compare".into(),
                        });
                    }
                    _ => {
                        return Err(ParseError {
                            offset: start,
                            message: "`!` on its own is not an operator; use `not` or `!=`".into(),
                        });
                    }
                };
                tokens.push((Token::Op(op), start));
                i += len;
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text
                    .parse::<f64>()
                    .map_err(|_| ParseError { offset: start, message: format!("`{text}` is not a number") })?;
                tokens.push((Token::Num(number), start));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push((Token::Ident(chars[start..i].iter().collect()), start));
            }
            other => {
                return Err(ParseError { offset: start, message: format!("unexpected character `{other}`") });
            }
        }
    }
    Ok(tokens)
}

/// Parses a `show_if` expression.
pub fn parse(source: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(source)?;
    let end = source.chars().count();
    let mut parser = ExprParser { tokens, pos: 0, end };
    let expr = parser.or()?;
    if let Some((token, offset)) = parser.tokens.get(parser.pos) {
        return Err(ParseError {
            offset: *offset,
            message: format!(
                "unexpected {} after a complete condition; join conditions with `and` or `or`",
                describe(token)
            ),
        });
    }
    Ok(expr)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Ident(name) => format!("`{name}`"),
        Token::Str(text) => format!("'{text}'"),
        Token::Num(n) => format!("`{n}`"),
        Token::Op(op) => format!("`{op}`"),
        Token::LParen => "`(`".into(),
        Token::RParen => "`)`".into(),
        Token::LBracket => "`[`".into(),
        Token::RBracket => "`]`".into(),
        Token::Comma => "`,`".into(),
    }
}

struct ExprParser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, o)| *o)
    }

    fn next(&mut self) -> Option<(Token, usize)> {
        let item = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        item
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { offset: self.offset(), message: message.into() })
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Some((Token::LParen, _)) => {
                let inner = self.or()?;
                match self.next() {
                    Some((Token::RParen, _)) => Ok(inner),
                    _ => {
                        self.pos -= 1;
                        self.error("expected `)` to close the bracket")
                    }
                }
            }
            Some((Token::Ident(word), offset)) if word == "answered" => {
                if !matches!(self.next(), Some((Token::LParen, _))) {
                    self.pos -= 1;
                    return self.error("write `answered(question_id)`");
                }
                let question = match self.next() {
                    Some((Token::Ident(id), offset)) if !is_keyword(&id) => QuestionRef { id, offset },
                    _ => {
                        self.pos -= 1;
                        return self.error("expected a question id inside `answered(...)`");
                    }
                };
                if !matches!(self.next(), Some((Token::RParen, _))) {
                    self.pos -= 1;
                    return self.error("expected `)` after the question id");
                }
                let _ = offset;
                Ok(Expr::Answered(question))
            }
            Some((Token::Ident(word), offset)) if !is_keyword(&word) => {
                let subject = if word == "voice" {
                    Subject::Voice { offset }
                } else {
                    Subject::Question(QuestionRef { id: word, offset })
                };
                self.comparison(subject)
            }
            Some((token, offset)) => Err(ParseError {
                offset,
                message: format!(
                    "expected a question id, `voice`, `answered(...)`, `not` or `(`, found {}",
                    describe(&token)
                ),
            }),
            None => self.error("the condition ends too early; expected a question id, `voice` or `answered(...)`"),
        }
    }

    fn comparison(&mut self, subject: Subject) -> Result<Expr, ParseError> {
        match self.next() {
            Some((Token::Op(op), _)) => Ok(Expr::Compare { subject, op, value: self.literal()? }),
            Some((Token::Ident(word), _)) if word == "in" => {
                if !matches!(self.next(), Some((Token::LBracket, _))) {
                    self.pos -= 1;
                    return self.error("write `in [...]` with the values in square brackets");
                }
                let mut values = vec![self.literal()?];
                loop {
                    match self.next() {
                        Some((Token::Comma, _)) => values.push(self.literal()?),
                        Some((Token::RBracket, _)) => break,
                        _ => {
                            self.pos -= 1;
                            return self.error("expected `,` or `]` in the list of values");
                        }
                    }
                }
                Ok(Expr::In { subject, values })
            }
            Some((Token::Ident(word), offset)) if word == "contains" => match subject {
                Subject::Question(question) => Ok(Expr::Contains { subject: question, value: self.literal()? }),
                Subject::Voice { .. } => Err(ParseError {
                    offset,
                    message: "`voice` holds one value; use `voice == '...'` or `voice in [...]`".into(),
                }),
            },
            _ => {
                self.pos = self.pos.saturating_sub(1);
                self.error(
                    "expected a comparison after the name: `==`, `!=`, `<`, `<=`, `>`, `>=`, `in [...]` or `contains`",
                )
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        match self.next() {
            Some((Token::Str(text), offset)) => Ok(Literal { value: LiteralValue::Text(text), offset }),
            Some((Token::Num(n), offset)) => Ok(Literal { value: LiteralValue::Number(n), offset }),
            Some((Token::Ident(word), offset)) => {
                Err(ParseError { offset, message: format!("`{word}` needs quotes to be a value: write '{word}'") })
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                self.error("expected a value: text in quotes, such as 'yes', or a number")
            }
        }
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "in" | "contains" | "answered")
}

impl Expr {
    /// Every question the expression reads, in order of appearance.
    pub fn question_refs(&self) -> Vec<&QuestionRef> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a QuestionRef>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_refs(out);
                b.collect_refs(out);
            }
            Expr::Not(a) => a.collect_refs(out),
            Expr::Answered(q) | Expr::Contains { subject: q, .. } => out.push(q),
            Expr::Compare { subject, .. } | Expr::In { subject, .. } => {
                if let Subject::Question(q) = subject {
                    out.push(q);
                }
            }
        }
    }

    /// Evaluates the condition for a respondent; hidden questions have no answer.
    pub fn eval(&self, voice: Option<Voice>, answers: &Answers) -> bool {
        match self {
            Expr::And(a, b) => a.eval(voice, answers) && b.eval(voice, answers),
            Expr::Or(a, b) => a.eval(voice, answers) || b.eval(voice, answers),
            Expr::Not(a) => !a.eval(voice, answers),
            Expr::Answered(q) => answers.get(&q.id).is_some(),
            Expr::Compare { subject, op, value } => {
                // `!=` is `not ==`, so it is true when there is no answer.
                let asked = if *op == CmpOp::Ne { CmpOp::Eq } else { *op };
                let matched = match subject {
                    Subject::Voice { .. } => match (voice, &value.value) {
                        (Some(v), LiteralValue::Text(t)) => Some(v.code() == t),
                        _ => None,
                    },
                    Subject::Question(q) => answers.get(&q.id).and_then(|a| compare(a, asked, &value.value)),
                }
                .unwrap_or(false);
                if *op == CmpOp::Ne { !matched } else { matched }
            }
            Expr::In { subject, values } => values.iter().any(|v| {
                Expr::Compare { subject: subject.clone(), op: CmpOp::Eq, value: v.clone() }.eval(voice, answers)
            }),
            Expr::Contains { subject, value } => match (answers.get(&subject.id), &value.value) {
                (Some(AnswerValue::Choices(codes)), LiteralValue::Text(t)) => codes.iter().any(|c| c == t),
                _ => false,
            },
        }
    }

    /// What can be known before anyone answers: is the condition possibly
    /// true for `voice`, given which questions that voice can ever reach?
    pub fn possible(&self, voice: Voice, reachable: &dyn Fn(&str) -> bool) -> Tri {
        match self {
            Expr::And(a, b) => a.possible(voice, reachable).and(b.possible(voice, reachable)),
            Expr::Or(a, b) => a.possible(voice, reachable).or(b.possible(voice, reachable)),
            Expr::Not(a) => a.possible(voice, reachable).not(),
            Expr::Answered(q) | Expr::Contains { subject: q, .. } => {
                if reachable(&q.id) {
                    Tri::Unknown
                } else {
                    Tri::False
                }
            }
            Expr::Compare { subject, op, value } => match subject {
                Subject::Voice { .. } => {
                    let equal = matches!(&value.value, LiteralValue::Text(t) if t == voice.code());
                    Tri::from(if *op == CmpOp::Ne { !equal } else { equal })
                }
                Subject::Question(q) => match (reachable(&q.id), op) {
                    (true, _) => Tri::Unknown,
                    (false, CmpOp::Ne) => Tri::True,
                    (false, _) => Tri::False,
                },
            },
            Expr::In { subject, values } => match subject {
                Subject::Voice { .. } => {
                    Tri::from(values.iter().any(|v| matches!(&v.value, LiteralValue::Text(t) if t == voice.code())))
                }
                Subject::Question(q) => {
                    if reachable(&q.id) {
                        Tri::Unknown
                    } else {
                        Tri::False
                    }
                }
            },
        }
    }

    /// The voices named anywhere in the expression, for validation.
    pub fn voice_literals(&self) -> BTreeSet<(String, usize)> {
        let mut out = BTreeSet::new();
        self.collect_voice_literals(&mut out);
        out
    }

    fn collect_voice_literals(&self, out: &mut BTreeSet<(String, usize)>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_voice_literals(out);
                b.collect_voice_literals(out);
            }
            Expr::Not(a) => a.collect_voice_literals(out),
            Expr::Compare { subject: Subject::Voice { .. }, value, .. } => {
                out.insert(literal_key(value));
            }
            Expr::In { subject: Subject::Voice { .. }, values } => out.extend(values.iter().map(literal_key)),
            _ => {}
        }
    }
}

fn literal_key(literal: &Literal) -> (String, usize) {
    match &literal.value {
        LiteralValue::Text(t) => (t.clone(), literal.offset),
        LiteralValue::Number(n) => (n.to_string(), literal.offset),
    }
}

fn compare(answer: &AnswerValue, op: CmpOp, literal: &LiteralValue) -> Option<bool> {
    use std::cmp::Ordering;
    let ordering = match (answer, literal) {
        (AnswerValue::Choice(code), LiteralValue::Text(t)) => {
            return match op {
                CmpOp::Eq | CmpOp::Ne => Some(code == t),
                _ => None,
            };
        }
        (AnswerValue::Number(n), LiteralValue::Number(m)) => n.partial_cmp(m)?,
        (AnswerValue::Date(d), LiteralValue::Text(t)) => d.format("%Y-%m-%d").to_string().as_str().cmp(t.as_str()),
        (AnswerValue::Text(s), LiteralValue::Text(t)) => s.as_str().cmp(t.as_str()),
        _ => return None,
    };
    Some(match op {
        CmpOp::Eq | CmpOp::Ne => ordering == Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    })
}

/// Kleene three-valued logic for static reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl From<bool> for Tri {
    fn from(b: bool) -> Self {
        if b { Tri::True } else { Tri::False }
    }
}

impl Tri {
    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }

    fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn answers(pairs: &[(&str, AnswerValue)]) -> Answers {
        let mut out = Answers::new();
        for (id, value) in pairs {
            out.insert((*id).to_string(), value.clone());
        }
        out
    }

    fn holds(source: &str, voice: Option<Voice>, given: &Answers) -> bool {
        parse(source).unwrap_or_else(|e| panic!("{source}: {e:?}")).eval(voice, given)
    }

    fn choice(code: &str) -> AnswerValue {
        AnswerValue::Choice(code.into())
    }

    #[test]
    fn an_unanswered_question_makes_a_comparison_false_and_not_equal_true() {
        let none = Answers::new();
        assert!(!holds("q == 'yes'", None, &none));
        assert!(holds("q != 'yes'", None, &none));
        assert!(!holds("q in ['yes', 'no']", None, &none));
        assert!(!holds("q > 3", None, &none));
        assert!(!holds("answered(q)", None, &none));
    }

    #[test]
    fn choices_compare_by_code() {
        let given = answers(&[("q", choice("yes"))]);
        assert!(holds("q == 'yes'", None, &given));
        assert!(!holds("q != 'yes'", None, &given));
        assert!(holds("q in ['no', 'yes']", None, &given));
        assert!(holds("answered(q)", None, &given));
        // Choices have no order.
        assert!(!holds("q > 'a'", None, &given));
    }

    #[test]
    fn several_answers_are_tested_with_contains() {
        let given = answers(&[("s", AnswerValue::Choices(vec!["gp".into(), "hospital".into()]))]);
        assert!(holds("s contains 'gp'", None, &given));
        assert!(!holds("s contains 'social_care'", None, &given));
        assert!(holds("s contains 'gp' and (s contains 'social_care' or s contains 'hospital')", None, &given));
    }

    #[test]
    fn numbers_and_dates_have_an_order() {
        let given = answers(&[
            ("hours", AnswerValue::Number(20.0)),
            ("on", AnswerValue::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())),
        ]);
        assert!(holds("hours >= 20", None, &given));
        assert!(!holds("hours > 20", None, &given));
        assert!(holds("hours < 20.5", None, &given));
        assert!(holds("on >= '2026-01-01'", None, &given));
        assert!(!holds("on < '2026-03-01'", None, &given));
        // A number question compared with text is false, never a panic.
        assert!(!holds("hours == 'twenty'", None, &given));
    }

    #[test]
    fn voice_is_compared_with_the_respondents_voice() {
        let none = Answers::new();
        assert!(holds("voice == 'carer_self'", Some(Voice::CarerSelf), &none));
        assert!(!holds("voice == 'carer_self'", Some(Voice::Patient), &none));
        assert!(!holds("voice == 'carer_self'", None, &none));
        assert!(holds("voice in ['carer_self', 'carer_on_behalf']", Some(Voice::CarerOnBehalf), &none));
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let given = answers(&[("a", choice("x"))]);
        // (not a == 'x') or (a == 'x' and b == 'y')
        assert!(!holds("not a == 'x' or a == 'x' and b == 'y'", None, &given));
        assert!(holds("not (a == 'y') and a == 'x'", None, &given));
    }

    #[test]
    fn syntax_errors_say_where() {
        let error = parse("q == 'yes' and").unwrap_err();
        assert_eq!(error.offset, 14, "{error:?}");
        let error = parse("q == 'unclosed").unwrap_err();
        assert_eq!(error.offset, 5, "{error:?}");
        assert!(parse("q === 'x'").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn question_references_are_listed_in_order() {
        let expr = parse("a == 'x' or (answered(b) and c contains 'y')").unwrap();
        let ids: Vec<&str> = expr.question_refs().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn what_can_be_known_before_anyone_answers() {
        let reachable = |id: &str| id == "seen";
        let known = |source: &str, voice| parse(source).unwrap().possible(voice, &reachable);
        assert_eq!(known("voice == 'patient'", Voice::Patient), Tri::True);
        assert_eq!(known("voice == 'patient'", Voice::CarerSelf), Tri::False);
        assert_eq!(known("seen == 'x'", Voice::Patient), Tri::Unknown);
        // A question this voice never reaches is never answered.
        assert_eq!(known("hidden == 'x'", Voice::Patient), Tri::False);
        assert_eq!(known("hidden != 'x'", Voice::Patient), Tri::True);
        assert_eq!(known("voice == 'carer_self' and seen == 'x'", Voice::Patient), Tri::False);
        assert_eq!(known("voice == 'patient' or seen == 'x'", Voice::Patient), Tri::True);
        assert_eq!(known("not (seen == 'x')", Voice::Patient), Tri::Unknown);
    }

    #[test]
    fn voice_literals_are_collected_for_validation() {
        let expr = parse("voice == 'patient' or voice in ['carer_self', 'nobody']").unwrap();
        let names: Vec<String> = expr.voice_literals().into_iter().map(|(v, _)| v).collect();
        assert_eq!(names, ["carer_self", "nobody", "patient"]);
    }
}
