//! OCM's `search` language (spec §2.5, §5.8): parser and evaluator.
//!
//! A query is an SQL-`WHERE`-like expression over dotted attribute paths. It is
//! parsed once into a [`Query`], checked against the resource's searchable fields
//! (an unknown field is a 400 in OCM, even when nothing would match), and then
//! evaluated against the JSON the simulator serves for each object. Evaluating the
//! served JSON, rather than internal structs, keeps "what a client can see" and
//! "what a client can search" the same thing.
//!
//! Comparison follows SQL where a client could tell: a missing (`null`) attribute
//! matches nothing but `IS NULL`; booleans accept `'true'`, `'t'`, `true` and the
//! other `PostgreSQL` spellings; strings that both parse as RFC 3339 instants compare
//! chronologically, so `created_at >= '2024-01-01T00:00:00+00:00'` works whatever
//! offset either side is written with.

use std::cmp::Ordering;
use std::fmt;

use jiff::Timestamp;
use serde_json::Value;

/// Why a query (or an `order` clause) was rejected; the message becomes the
/// `reason` of OCM's 400 error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The text does not follow the grammar.
    #[error("Failed to parse search query '{query}': {message} at position {position}")]
    Syntax {
        query: String,
        message: String,
        position: usize,
    },
    /// The query names an attribute the resource does not have.
    #[error("Field '{field}' is not a searchable field of {resource}")]
    UnknownField { field: String, resource: String },
    /// A literal cannot be compared with the attribute's type.
    #[error("Value '{value}' cannot be compared with boolean field '{field}'")]
    NotBoolean { field: String, value: String },
    /// An `order` clause is malformed.
    #[error("Invalid order clause '{clause}': {message}")]
    Order { clause: String, message: String },
}

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Number(f64),
    Bool(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "{s}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
    Not(Box<Query>),
    Compare {
        field: String,
        op: Op,
        value: Literal,
    },
    In {
        field: String,
        values: Vec<Literal>,
        /// Every value as text: a string attribute equals a literal exactly
        /// when its text is here (or, for instants, chronologically; see
        /// [`Query::matches`]). Discovery sends lists of a hundred ids.
        spelled: std::collections::HashSet<String>,
        negated: bool,
    },
    Like {
        field: String,
        pattern: String,
        case_insensitive: bool,
        negated: bool,
    },
    IsNull {
        field: String,
        negated: bool,
    },
}

impl Query {
    /// Parse a query. Empty or blank text is not a query: callers treat an absent
    /// or blank `search` parameter as "match everything" before calling this.
    pub fn parse(text: &str) -> Result<Query, SearchError> {
        let tokens = lex(text)?;
        let mut parser = Parser {
            text,
            tokens,
            pos: 0,
        };
        let query = parser.or_expr()?;
        if let Some(tok) = parser.tokens.get(parser.pos) {
            return Err(parser.error_at(tok.position, "unexpected trailing input"));
        }
        Ok(query)
    }

    /// Every attribute the query names, for checking against a resource's fields.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Query::And(a, b) | Query::Or(a, b) => {
                a.collect_fields(out);
                b.collect_fields(out);
            }
            Query::Not(q) => q.collect_fields(out),
            Query::Compare { field, .. }
            | Query::In { field, .. }
            | Query::Like { field, .. }
            | Query::IsNull { field, .. } => out.push(field),
        }
    }

    /// Reject the query unless every field it names is in `allowed`, and unless
    /// every literal compared with a boolean field reads as a boolean.
    /// `boolean_fields` lists the allowed fields that hold booleans.
    pub fn check(
        &self,
        resource: &str,
        allowed: &[&str],
        boolean_fields: &[&str],
    ) -> Result<(), SearchError> {
        for field in self.fields() {
            if !allowed.contains(&field) {
                return Err(SearchError::UnknownField {
                    field: field.to_owned(),
                    resource: resource.to_owned(),
                });
            }
        }
        self.check_booleans(boolean_fields)
    }

    fn check_booleans(&self, boolean_fields: &[&str]) -> Result<(), SearchError> {
        let check = |field: &str, lit: &Literal| {
            if boolean_fields.contains(&field) && literal_bool(lit).is_none() {
                Err(SearchError::NotBoolean {
                    field: field.to_owned(),
                    value: lit.to_string(),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Query::And(a, b) | Query::Or(a, b) => {
                a.check_booleans(boolean_fields)?;
                b.check_booleans(boolean_fields)
            }
            Query::Not(q) => q.check_booleans(boolean_fields),
            Query::Compare { field, value, .. } => check(field, value),
            Query::In { field, values, .. } => values.iter().try_for_each(|v| check(field, v)),
            Query::Like { .. } | Query::IsNull { .. } => Ok(()),
        }
    }

    /// Whether an object (as served JSON) matches.
    pub fn matches(&self, object: &Value) -> bool {
        match self {
            // A list of ids is the most selective test a client sends (discovery
            // asks for a hundred ids at a time out of thousands), so try it first;
            // `and` has no side effects, so the order cannot change the result.
            Query::And(a, b) if matches!(**b, Query::In { .. }) => {
                b.matches(object) && a.matches(object)
            }
            Query::And(a, b) => a.matches(object) && b.matches(object),
            Query::Or(a, b) => a.matches(object) || b.matches(object),
            Query::Not(q) => !q.matches(object),
            Query::Compare { field, op, value } => {
                let Some(actual) = lookup(object, field) else {
                    return false;
                };
                match compare(actual, value) {
                    Some(ord) => match op {
                        Op::Eq => ord == Ordering::Equal,
                        Op::Ne => ord != Ordering::Equal,
                        Op::Lt => ord == Ordering::Less,
                        Op::Le => ord != Ordering::Greater,
                        Op::Gt => ord == Ordering::Greater,
                        Op::Ge => ord != Ordering::Less,
                    },
                    None => false,
                }
            }
            Query::In {
                field,
                values,
                spelled,
                negated,
            } => {
                let Some(actual) = lookup(object, field) else {
                    return false;
                };
                let found = match actual {
                    Value::String(s) if !looks_like_instant(s) => spelled.contains(s.as_str()),
                    _ => values
                        .iter()
                        .any(|v| compare(actual, v) == Some(Ordering::Equal)),
                };
                found != *negated
            }
            Query::Like {
                field,
                pattern,
                case_insensitive,
                negated,
            } => {
                let Some(actual) = lookup(object, field) else {
                    return false;
                };
                let owned;
                let text = match actual {
                    Value::String(s) => s.as_str(),
                    other => {
                        owned = other.to_string();
                        owned.as_str()
                    }
                };
                let hit = if *case_insensitive {
                    like(&text.to_lowercase(), &pattern.to_lowercase())
                } else {
                    like(text, pattern)
                };
                hit != *negated
            }
            Query::IsNull { field, negated } => lookup(object, field).is_none() != *negated,
        }
    }
}

/// The value at a dotted path; `None` for a missing attribute or JSON `null`.
pub fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    for part in path.split('.') {
        current = current.as_object()?.get(part)?;
    }
    if current.is_null() {
        None
    } else {
        Some(current)
    }
}

/// `PostgreSQL`'s boolean spellings.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn literal_bool(lit: &Literal) -> Option<bool> {
    match lit {
        Literal::Bool(b) => Some(*b),
        Literal::Str(s) => parse_bool(s),
        #[allow(clippy::float_cmp)] // exact 0/1 are the only numeric booleans
        Literal::Number(n) if *n == 0.0 || *n == 1.0 => Some(*n == 1.0),
        Literal::Number(_) => None,
    }
}

/// Order an attribute value against a literal; `None` when they cannot be compared.
fn compare(actual: &Value, lit: &Literal) -> Option<Ordering> {
    match actual {
        Value::Bool(b) => literal_bool(lit).map(|l| b.cmp(&l)),
        Value::Number(n) => {
            let n = n.as_f64()?;
            let l = match lit {
                Literal::Number(l) => *l,
                Literal::Str(s) => s.trim().parse::<f64>().ok()?,
                Literal::Bool(_) => return None,
            };
            n.partial_cmp(&l)
        }
        Value::String(s) => Some(match lit {
            Literal::Str(l) => compare_strings(s, l),
            other => compare_strings(s, &other.to_string()),
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Strings compare chronologically when both are RFC 3339 instants, else bytewise.
pub fn compare_strings(a: &str, b: &str) -> Ordering {
    // Searches compare ids by the thousand (`id in (...)`): parse only what can
    // be an instant, since a failed parse costs far more than the comparison.
    if a == b || !looks_like_instant(a) || !looks_like_instant(b) {
        return a.cmp(b);
    }
    match (a.parse::<Timestamp>(), b.parse::<Timestamp>()) {
        (Ok(ta), Ok(tb)) => ta.cmp(&tb),
        _ => a.cmp(b),
    }
}

/// `YYYY-MM-DD…`: the only shape an RFC 3339 instant can start with.
fn looks_like_instant(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

/// Order two attribute values (for `order` clauses): missing values sort last, as
/// `PostgreSQL` does for ascending order.
pub fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match (a, b) {
            (Value::String(x), Value::String(y)) => compare_strings(x, y),
            (Value::Number(x), Value::Number(y)) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (x, y) => x.to_string().cmp(&y.to_string()),
        },
    }
}

/// SQL `LIKE`: `%` is any sequence, `_` any one character, everything else literal.
pub fn like(text: &str, pattern: &str) -> bool {
    // ASCII (every label key) matches byte by byte without copying; anything
    // else by characters, so `_` is one character and not one byte.
    if text.is_ascii() && pattern.is_ascii() {
        wildcard(text.as_bytes(), pattern.as_bytes(), b'_', b'%')
    } else {
        let text: Vec<char> = text.chars().collect();
        let pattern: Vec<char> = pattern.chars().collect();
        wildcard(&text, &pattern, '_', '%')
    }
}

fn wildcard<T: PartialEq + Copy>(text: &[T], pattern: &[T], one: T, any: T) -> bool {
    // Iterative wildcard matching with backtracking to the last `%`: linear in
    // practice and without recursion, so a hostile pattern cannot blow the stack.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == one || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == any {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == any {
        p += 1;
    }
    p == pattern.len()
}

/// One `order` term: a field and its direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub field: String,
    pub descending: bool,
}

/// Parse an `order`/`orderBy` clause: `field [asc|desc] {, field [asc|desc]}`.
pub fn parse_order(clause: &str, allowed: &[&str]) -> Result<Vec<OrderTerm>, SearchError> {
    let mut terms = Vec::new();
    for part in clause.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (field, descending) = match words.as_slice() {
            [field] => (*field, false),
            [field, dir] if dir.eq_ignore_ascii_case("asc") => (*field, false),
            [field, dir] if dir.eq_ignore_ascii_case("desc") => (*field, true),
            _ => {
                return Err(SearchError::Order {
                    clause: clause.to_owned(),
                    message: format!("expected 'field [asc|desc]', got '{}'", part.trim()),
                });
            }
        };
        if !allowed.contains(&field) {
            return Err(SearchError::Order {
                clause: clause.to_owned(),
                message: format!("field '{field}' cannot be used for ordering"),
            });
        }
        terms.push(OrderTerm {
            field: field.to_owned(),
            descending,
        });
    }
    Ok(terms)
}

/// Sort objects by order terms; the sort is stable, so ties keep their order.
pub fn sort_by_terms(objects: &mut [Value], terms: &[OrderTerm]) {
    let mut order: Vec<usize> = (0..objects.len()).collect();
    sort_indices_by_terms(&mut order, |i| &objects[i], terms);
    let sorted: Vec<Value> = order.iter().map(|&i| objects[i].clone()).collect();
    for (slot, v) in objects.iter_mut().zip(sorted) {
        *slot = v;
    }
}

/// Sort positions by the objects they point at (stable), as
/// [`compare_values`] orders each term. Each object's keys are looked up (and
/// instants parsed) once, not once per comparison.
pub fn sort_indices_by_terms<'a>(
    positions: &mut [usize],
    object: impl Fn(usize) -> &'a Value,
    terms: &[OrderTerm],
) {
    let mut keyed: Vec<(Vec<SortKey<'a>>, usize)> = positions
        .iter()
        .map(|&i| {
            let o = object(i);
            let keys = terms
                .iter()
                .map(|t| SortKey::of(lookup(o, &t.field)))
                .collect();
            (keys, i)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, y), term) in a.iter().zip(b).zip(terms) {
            let ord = x.cmp_key(y);
            let ord = if term.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
    for (slot, (_, i)) in positions.iter_mut().zip(keyed) {
        *slot = i;
    }
}

/// An attribute value prepared for ordering: a string's instant is parsed once.
struct SortKey<'a> {
    value: Option<&'a Value>,
    instant: Option<Timestamp>,
}

impl<'a> SortKey<'a> {
    fn of(value: Option<&'a Value>) -> SortKey<'a> {
        let instant = match value {
            Some(Value::String(s)) if looks_like_instant(s) => s.parse::<Timestamp>().ok(),
            _ => None,
        };
        SortKey { value, instant }
    }

    /// The order of [`compare_values`].
    fn cmp_key(&self, other: &SortKey<'_>) -> Ordering {
        match (self.value, other.value) {
            (Some(Value::String(a)), Some(Value::String(b))) => match (self.instant, other.instant)
            {
                (Some(ta), Some(tb)) if a != b => ta.cmp(&tb),
                _ => a.cmp(b),
            },
            (a, b) => compare_values(a, b),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number(f64),
    Op(Op),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    position: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, SearchError> {
    let err = |position: usize, message: &str| SearchError::Syntax {
        query: text.to_owned(),
        message: message.to_owned(),
        position,
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (position, c) = chars[i];
        let simple = |tok: Tok| Token { tok, position };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(simple(Tok::LParen));
                i += 1;
            }
            ')' => {
                tokens.push(simple(Tok::RParen));
                i += 1;
            }
            ',' => {
                tokens.push(simple(Tok::Comma));
                i += 1;
            }
            '=' => {
                tokens.push(simple(Tok::Op(Op::Eq)));
                i += 1;
            }
            '!' => {
                if chars.get(i + 1).map(|c| c.1) == Some('=') {
                    tokens.push(simple(Tok::Op(Op::Ne)));
                    i += 2;
                } else {
                    return Err(err(position, "expected '=' after '!'"));
                }
            }
            '<' => match chars.get(i + 1).map(|c| c.1) {
                Some('=') => {
                    tokens.push(simple(Tok::Op(Op::Le)));
                    i += 2;
                }
                Some('>') => {
                    tokens.push(simple(Tok::Op(Op::Ne)));
                    i += 2;
                }
                _ => {
                    tokens.push(simple(Tok::Op(Op::Lt)));
                    i += 1;
                }
            },
            '>' => {
                if chars.get(i + 1).map(|c| c.1) == Some('=') {
                    tokens.push(simple(Tok::Op(Op::Ge)));
                    i += 2;
                } else {
                    tokens.push(simple(Tok::Op(Op::Gt)));
                    i += 1;
                }
            }
            '\'' => {
                let (value, next) = string_literal(&chars, i)
                    .ok_or_else(|| err(position, "unterminated string literal"))?;
                i = next;
                tokens.push(simple(Tok::Str(value)));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                    i += 1;
                }
                let literal: String = chars[start..i].iter().map(|c| c.1).collect();
                let n = literal
                    .parse::<f64>()
                    .map_err(|_| err(position, &format!("invalid number '{literal}'")))?;
                tokens.push(simple(Tok::Number(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].1.is_alphanumeric() || matches!(chars[i].1, '_' | '.'))
                {
                    i += 1;
                }
                let ident: String = chars[start..i].iter().map(|c| c.1).collect();
                tokens.push(simple(Tok::Ident(ident)));
            }
            other => return Err(err(position, &format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

/// The string literal opening at `chars[start]` (a quote), with `''` read as
/// one quote; returns the value and the index after the closing quote.
fn string_literal(chars: &[(usize, char)], start: usize) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i)? {
            (_, '\'') => {
                if chars.get(i + 1).map(|c| c.1) == Some('\'') {
                    value.push('\'');
                    i += 2;
                } else {
                    return Some((value, i + 1));
                }
            }
            (_, ch) => {
                value.push(*ch);
                i += 1;
            }
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn error_at(&self, position: usize, message: &str) -> SearchError {
        SearchError::Syntax {
            query: self.text.to_owned(),
            message: message.to_owned(),
            position,
        }
    }

    fn error_here(&self, message: &str) -> SearchError {
        let position = self
            .tokens
            .get(self.pos)
            .map_or(self.text.len(), |t| t.position);
        self.error_at(position, message)
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_keyword(keyword) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), SearchError> {
        if self.peek() == Some(tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(&format!("expected {what}")))
        }
    }

    fn or_expr(&mut self) -> Result<Query, SearchError> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("or") {
            let right = self.and_expr()?;
            left = Query::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Query, SearchError> {
        let mut left = self.not_expr()?;
        while self.eat_keyword("and") {
            let right = self.not_expr()?;
            left = Query::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Query, SearchError> {
        if self.eat_keyword("not") {
            let inner = self.not_expr()?;
            return Ok(Query::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Query, SearchError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.or_expr()?;
            self.expect(&Tok::RParen, "')'")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Query, SearchError> {
        let field = match self.peek() {
            Some(Tok::Ident(name)) if !is_keyword(name) => name.clone(),
            _ => return Err(self.error_here("expected a field name")),
        };
        self.pos += 1;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            let value = self.literal()?;
            return Ok(Query::Compare { field, op, value });
        }
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            if self.eat_keyword("null") {
                return Ok(Query::IsNull { field, negated });
            }
            // Some tools write `external_id is 'uuid'` for equality.
            let value = self.literal()?;
            let op = if negated { Op::Ne } else { Op::Eq };
            return Ok(Query::Compare { field, op, value });
        }
        let negated = self.eat_keyword("not");
        if self.eat_keyword("in") {
            self.expect(&Tok::LParen, "'(' after IN")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(&Tok::RParen, "')' closing the IN list")?;
            let spelled = values.iter().map(ToString::to_string).collect();
            return Ok(Query::In {
                field,
                values,
                spelled,
                negated,
            });
        }
        let case_insensitive = if self.eat_keyword("like") {
            false
        } else if self.eat_keyword("ilike") {
            true
        } else {
            return Err(self.error_here(
                "expected an operator (=, !=, <>, <, <=, >, >=, [NOT] IN, [NOT] LIKE, ILIKE, IS [NOT] NULL)",
            ));
        };
        let pattern = match self.literal()? {
            Literal::Str(s) => s,
            other => other.to_string(),
        };
        Ok(Query::Like {
            field,
            pattern,
            case_insensitive,
            negated,
        })
    }

    fn literal(&mut self) -> Result<Literal, SearchError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Number(n)) => Literal::Number(*n),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(self.error_here("expected a literal ('text', number, true or false)")),
        };
        self.pos += 1;
        Ok(lit)
    }
}

fn is_keyword(name: &str) -> bool {
    [
        "and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn matches(query: &str, object: &Value) -> bool {
        Query::parse(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .matches(object)
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let sub = json!({"key": "x.a", "type": "Subscription"});
        let org = json!({"key": "x.a", "type": "Organization"});
        let other = json!({"key": "y", "type": "Organization"});
        let q = "key like 'x%' and type='Subscription' or key like 'x%' and type='Organization'";
        assert!(matches(q, &sub));
        assert!(matches(q, &org));
        assert!(!matches(q, &other));
        // NOT binds tighter than AND: (not a) and b.
        assert!(matches("not type='Subscription' and key='y'", &other));
        assert!(!matches("not type='Organization' and key='y'", &other));
        // a or b and c == a or (b and c)
        assert!(matches("key='x.a' or key='nope' and type='nope'", &sub));
        assert!(!matches("(key='x.a' or key='nope') and type='nope'", &sub));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let o = json!({"id": "a", "state": "ready"});
        assert!(matches("id IN ('a','b') AND state = 'ready'", &o));
        assert!(matches("id in ('a') and NOT state='x'", &o));
        assert!(matches("id Not In ('b')", &o));
        assert!(matches("state LiKe 're%'", &o));
    }

    #[test]
    fn quoted_quotes_are_unescaped() {
        let o = json!({"summary": "it's x"});
        assert!(matches("summary='it''s x'", &o));
        assert!(!matches("summary='its x'", &o));
        assert_eq!(
            Query::parse("a=''''").unwrap(),
            Query::Compare {
                field: "a".into(),
                op: Op::Eq,
                value: Literal::Str("'".into())
            }
        );
    }

    #[test]
    fn booleans_accept_quoted_and_bare_spellings() {
        let o = json!({"managed": true, "hypershift": {"enabled": false}});
        for q in [
            "managed='true'",
            "managed='t'",
            "managed=true",
            "managed = 'TRUE'",
        ] {
            assert!(matches(q, &o), "{q}");
        }
        assert!(matches("hypershift.enabled='f'", &o));
        assert!(matches("hypershift.enabled=false", &o));
        assert!(!matches("managed='false'", &o));
        let q = Query::parse("managed='maybe'").unwrap();
        assert!(matches!(
            q.check("Cluster", &["managed"], &["managed"]),
            Err(SearchError::NotBoolean { .. })
        ));
    }

    #[test]
    fn like_wildcards() {
        assert!(like(
            "sre-capabilities.aus.schedule",
            "sre-capabilities.aus.%"
        ));
        assert!(!like("sre-capabilities.ausx", "sre-capabilities.aus.%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("abc", "%"));
        assert!(like("", "%"));
        assert!(like("a%c", "a%c"));
        assert!(like("xaybzc", "%a%b%c"));
        assert!(!like("ABC", "abc"));
        assert!(matches("name ilike 'AB%'", &json!({"name": "abc"})));
        assert!(!matches("name like 'AB%'", &json!({"name": "abc"})));
        assert!(matches("name not like 'x%'", &json!({"name": "abc"})));
    }

    #[test]
    fn comparisons_on_numbers_strings_and_timestamps() {
        let o = json!({"n": 5, "created_at": "2024-02-01T10:00:00.123456Z", "s": "b"});
        assert!(matches(
            "n > 4 and n <= 5 and n != 6 and n <> 7 and n >= '5'",
            &o
        ));
        assert!(!matches("n < 5", &o));
        assert!(matches("created_at >= '2024-01-01T00:00:00+00:00'", &o));
        assert!(!matches("created_at < '2024-02-01T11:00:00+01:00'", &o));
        assert!(matches("created_at < '2024-02-01T11:00:01+01:00'", &o));
        assert!(matches("s > 'a' and s < 'c'", &o));
    }

    #[test]
    fn null_semantics() {
        let o = json!({"a": null, "b": "x"});
        assert!(matches("a is null", &o));
        assert!(matches("missing IS NULL", &o));
        assert!(matches("b is not null", &o));
        assert!(!matches("a = 'x'", &o));
        assert!(!matches("a != 'x'", &o));
        assert!(matches("b is 'x'", &o));
    }

    #[test]
    fn reference_strings_parse() {
        for q in [
            "key like 'sre-capabilities.aus.%' and type='Subscription'",
            "key like 'sre-capabilities.aus.%' and organization_id in ('o1','o2') and type='Organization'",
            "(key like 'sre-capabilities.aus%' or key like 'sre-capabilities.rhidp%') and organization_id='o1' and type='Organization'",
            "(id in ('s1','s2') or organization_id='o1') and managed='true' and status in ('Active','Reserved')",
            "managed='true' and product.id in ('osd','rosa') and state='ready' and subscription.id in ('s1','s2')",
            "created_at >= '2024-01-01T00:00:00+00:00' and description='d' and service_name='advanced-upgrade-scheduler' and severity='Moderate' and summary='it''s x'",
            "state='ready'",
        ] {
            Query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn syntax_errors_name_the_position() {
        for q in [
            "id =",
            "id = 'x' and",
            "(id = 'x'",
            "id in ('a',)",
            "id 'x'",
            "id = 'unterminated",
            "= 'x'",
            "id = 'x' 'y'",
            "id ! 'x'",
            "and = 'x'",
        ] {
            assert!(
                matches!(Query::parse(q), Err(SearchError::Syntax { .. })),
                "{q} should be a syntax error"
            );
        }
        let err = Query::parse("id = 'x' garbage").unwrap_err().to_string();
        assert!(err.contains("position 9"), "{err}");
    }

    #[test]
    fn unknown_fields_are_reported() {
        let q = Query::parse("id='a' and (colour='red' or id='b')").unwrap();
        assert_eq!(
            q.check("Cluster", &["id"], &[]),
            Err(SearchError::UnknownField {
                field: "colour".into(),
                resource: "Cluster".into()
            })
        );
        assert!(q.check("Cluster", &["id", "colour"], &[]).is_ok());
    }

    #[test]
    fn order_clauses() {
        let terms =
            parse_order("creation_timestamp, id DESC", &["id", "creation_timestamp"]).unwrap();
        assert_eq!(
            terms,
            vec![
                OrderTerm {
                    field: "creation_timestamp".into(),
                    descending: false
                },
                OrderTerm {
                    field: "id".into(),
                    descending: true
                },
            ]
        );
        assert!(parse_order("colour", &["id"]).is_err());
        assert!(parse_order("id sideways", &["id"]).is_err());
        let mut objs = vec![json!({"id": "b"}), json!({"id": "a"}), json!({"id": null})];
        sort_by_terms(&mut objs, &parse_order("id", &["id"]).unwrap());
        assert_eq!(objs[0]["id"], "a");
        assert_eq!(objs[2]["id"], Value::Null);
        sort_by_terms(&mut objs, &parse_order("id desc", &["id"]).unwrap());
        assert_eq!(objs[0]["id"], Value::Null);
    }
}
