//! A typed builder for OCM's `search` language (`spec/ocm-api.md` §2.5).
//!
//! Filters are built as a tree and rendered once, so quoting and parentheses cannot
//! go wrong at call sites:
//! * string literals are single-quoted with embedded quotes doubled (`'it''s'`);
//! * booleans are rendered quoted (`managed='true'`), as the reference sends them;
//! * `AND` binds tighter than `OR`, so only an `OR` nested inside an `AND` gets
//!   parentheses;
//! * a single-value `in` renders as `field='v'`, as the reference does.
//!
//! There is deliberately no `NOT`: every filter is monotone in its `in` lists, which
//! is what makes [`Filter::chunked`] (splitting long `in` lists into several queries
//! whose union is the original result) correct.

use std::fmt;

use jiff::Timestamp;

/// Default ceiling on values per `in` list (§2.5: "chunk every `IN` list to ≤100").
pub const MAX_IN_VALUES: usize = 100;

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Str(String),
    /// Rendered quoted (`'true'`), which OCM accepts for boolean fields.
    Bool(bool),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Str(s.clone())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<Timestamp> for Value {
    /// Timestamps compare as quoted RFC 3339 strings.
    fn from(ts: Timestamp) -> Self {
        Value::Str(ts.to_string())
    }
}

/// Quote a string literal: `it's` → `'it''s'`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(&quote(s)),
            Value::Bool(b) => write!(f, "'{b}'"),
            Value::Int(i) => write!(f, "{i}"),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A search expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `field op value`
    Compare { field: String, op: Op, value: Value },
    /// `field like 'pattern'` (`%` any sequence, `_` one character) or `ilike`.
    Like {
        field: String,
        pattern: String,
        case_insensitive: bool,
    },
    /// `field in (v1, v2, ...)`; an empty list matches nothing.
    In { field: String, values: Vec<Value> },
    /// `field is null` / `field is not null`.
    IsNull { field: String, negated: bool },
    /// All of the operands (never empty when built through the API).
    And(Vec<Filter>),
    /// Any of the operands (never empty when built through the API).
    Or(Vec<Filter>),
}

impl Filter {
    pub fn eq(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Eq, value)
    }

    pub fn ne(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Ne, value)
    }

    pub fn lt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Lt, value)
    }

    pub fn le(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Le, value)
    }

    pub fn gt(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Gt, value)
    }

    pub fn ge(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter::compare(field, Op::Ge, value)
    }

    pub fn compare(field: impl Into<String>, op: Op, value: impl Into<Value>) -> Self {
        Filter::Compare {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// Case-sensitive `like`.
    pub fn like(field: impl Into<String>, pattern: impl Into<String>) -> Self {
        Filter::Like {
            field: field.into(),
            pattern: pattern.into(),
            case_insensitive: false,
        }
    }

    /// Case-insensitive `ilike`.
    pub fn ilike(field: impl Into<String>, pattern: impl Into<String>) -> Self {
        Filter::Like {
            field: field.into(),
            pattern: pattern.into(),
            case_insensitive: true,
        }
    }

    /// `field in (...)`. Duplicate values are dropped (first occurrence kept).
    pub fn in_<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        let mut out: Vec<Value> = Vec::new();
        for v in values {
            let v = v.into();
            if !out.contains(&v) {
                out.push(v);
            }
        }
        Filter::In {
            field: field.into(),
            values: out,
        }
    }

    pub fn is_null(field: impl Into<String>) -> Self {
        Filter::IsNull {
            field: field.into(),
            negated: false,
        }
    }

    pub fn is_not_null(field: impl Into<String>) -> Self {
        Filter::IsNull {
            field: field.into(),
            negated: true,
        }
    }

    /// `self and other`, flattening nested `and`s.
    #[must_use]
    pub fn and(self, other: Filter) -> Self {
        let mut parts = match self {
            Filter::And(parts) => parts,
            f => vec![f],
        };
        match other {
            Filter::And(more) => parts.extend(more),
            f => parts.push(f),
        }
        Filter::And(parts)
    }

    /// `self or other`, flattening nested `or`s.
    #[must_use]
    pub fn or(self, other: Filter) -> Self {
        let mut parts = match self {
            Filter::Or(parts) => parts,
            f => vec![f],
        };
        match other {
            Filter::Or(more) => parts.extend(more),
            f => parts.push(f),
        }
        Filter::Or(parts)
    }

    /// Conjunction of several filters; `None` when there are none.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Disjunction of several filters; `None` when there are none.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::or)
    }

    /// Remove parts that can never match (empty `in` lists and empty `and`/`or`).
    ///
    /// `None` means the whole filter matches nothing, so no request is needed. A
    /// literal `in ()` is a syntax error for OCM, so it must never be sent.
    pub fn simplified(&self) -> Option<Filter> {
        match self {
            Filter::In { values, .. } if values.is_empty() => None,
            Filter::And(parts) => {
                let parts: Option<Vec<Filter>> = parts.iter().map(Filter::simplified).collect();
                let parts = parts?;
                match parts.len() {
                    0 => None,
                    1 => parts.into_iter().next(),
                    _ => Some(Filter::And(parts)),
                }
            }
            Filter::Or(parts) => {
                let parts: Vec<Filter> = parts.iter().filter_map(Filter::simplified).collect();
                match parts.len() {
                    0 => None,
                    1 => parts.into_iter().next(),
                    _ => Some(Filter::Or(parts)),
                }
            }
            other => Some(other.clone()),
        }
    }

    /// Split every `in` list longer than `max` into chunks of at most `max` values.
    ///
    /// The union of the results of the returned filters equals the result of `self`
    /// (the language has no negation of `in`, so each filter is monotone in each `in`
    /// atom and distributes over a split of its value list). Results of different
    /// chunks may overlap, e.g. for `id in (...) or organization_id='o'`, so callers
    /// de-duplicate. `max` of 0 is treated as 1.
    pub fn chunked(&self, max: usize) -> Vec<Filter> {
        let max = max.max(1);
        let mut done = Vec::new();
        let mut todo = vec![self.clone()];
        while let Some(f) = todo.pop() {
            match f.split_first_long_in(max) {
                Some(parts) => todo.extend(parts.into_iter().rev()),
                None => done.push(f),
            }
        }
        done
    }

    /// Replace the first `in` list longer than `max` by its chunks: one filter per
    /// chunk. `None` when there is no such list.
    fn split_first_long_in(&self, max: usize) -> Option<Vec<Filter>> {
        match self {
            Filter::In { field, values } if values.len() > max => Some(
                values
                    .chunks(max)
                    .map(|chunk| Filter::In {
                        field: field.clone(),
                        values: chunk.to_vec(),
                    })
                    .collect(),
            ),
            Filter::And(parts) | Filter::Or(parts) => {
                parts.iter().enumerate().find_map(|(i, part)| {
                    part.split_first_long_in(max).map(|replacements| {
                        replacements
                            .into_iter()
                            .map(|r| {
                                let mut parts = parts.clone();
                                parts[i] = r;
                                if matches!(self, Filter::And(_)) {
                                    Filter::And(parts)
                                } else {
                                    Filter::Or(parts)
                                }
                            })
                            .collect()
                    })
                })
            }
            _ => None,
        }
    }

    /// Render with parentheses only where `AND`-over-`OR` precedence needs them.
    fn render(&self, f: &mut fmt::Formatter<'_>, inside_and: bool) -> fmt::Result {
        match self {
            Filter::Compare { field, op, value } => write!(f, "{field}{}{value}", op.as_str()),
            Filter::Like {
                field,
                pattern,
                case_insensitive,
            } => {
                let kw = if *case_insensitive { "ilike" } else { "like" };
                write!(f, "{field} {kw} {}", quote(pattern))
            }
            Filter::In { field, values } => {
                if let [single] = values.as_slice() {
                    return write!(f, "{field}={single}");
                }
                write!(f, "{field} in (")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Filter::IsNull { field, negated } => {
                let not = if *negated { " not" } else { "" };
                write!(f, "{field} is{not} null")
            }
            Filter::And(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    p.render(f, true)?;
                }
                Ok(())
            }
            Filter::Or(parts) => {
                if inside_and {
                    f.write_str("(")?;
                }
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    p.render(f, false)?;
                }
                if inside_and {
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Filter {
    /// The `search` parameter text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Read one quoted literal from the start of `s`; returns the value and the rest.
    /// A deliberately tiny model of OCM's lexer: `''` inside quotes is one quote.
    fn unquote(s: &str) -> Option<(String, &str)> {
        let mut chars = s.char_indices();
        if chars.next()?.1 != '\'' {
            return None;
        }
        let mut out = String::new();
        let mut chars = chars.peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|&(_, c)| c) == Some('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &s[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    }

    #[test]
    fn renders_the_reference_test_vectors() {
        let f =
            Filter::like("key", "sre-capabilities.aus.%").and(Filter::eq("type", "Subscription"));
        assert_eq!(
            f.to_string(),
            "key like 'sre-capabilities.aus.%' and type='Subscription'"
        );

        let f = Filter::like("key", "sre-capabilities.aus.%")
            .and(Filter::in_("organization_id", ["o1", "o2"]))
            .and(Filter::eq("type", "Organization"));
        assert_eq!(
            f.to_string(),
            "key like 'sre-capabilities.aus.%' and organization_id in ('o1','o2') and type='Organization'"
        );

        let f = Filter::like("key", "sre-capabilities.aus%")
            .or(Filter::like("key", "sre-capabilities.rhidp%"))
            .and(Filter::eq("organization_id", "o1"))
            .and(Filter::eq("type", "Organization"));
        assert_eq!(
            f.to_string(),
            "(key like 'sre-capabilities.aus%' or key like 'sre-capabilities.rhidp%') and organization_id='o1' and type='Organization'"
        );

        let f = Filter::in_("id", ["s1", "s2"])
            .or(Filter::eq("organization_id", "o1"))
            .and(Filter::eq("managed", true))
            .and(Filter::in_("status", ["Active", "Reserved"]));
        assert_eq!(
            f.to_string(),
            "(id in ('s1','s2') or organization_id='o1') and managed='true' and status in ('Active','Reserved')"
        );

        let f = Filter::ge("created_at", "2024-01-01T00:00:00+00:00")
            .and(Filter::eq("description", "d"))
            .and(Filter::eq("summary", "it's x"));
        assert_eq!(
            f.to_string(),
            "created_at>='2024-01-01T00:00:00+00:00' and description='d' and summary='it''s x'"
        );
    }

    #[test]
    fn or_of_ands_needs_no_parentheses() {
        let f = Filter::like("key", "x%")
            .and(Filter::eq("type", "Subscription"))
            .or(Filter::like("key", "x%").and(Filter::eq("type", "Organization")));
        assert_eq!(
            f.to_string(),
            "key like 'x%' and type='Subscription' or key like 'x%' and type='Organization'"
        );
    }

    #[test]
    fn single_value_in_renders_as_equality_and_duplicates_drop() {
        assert_eq!(Filter::in_("id", ["a"]).to_string(), "id='a'");
        assert_eq!(
            Filter::in_("id", ["a", "b", "a"]).to_string(),
            "id in ('a','b')"
        );
    }

    #[test]
    fn other_atoms_render() {
        assert_eq!(Filter::ne("state", "ready").to_string(), "state!='ready'");
        assert_eq!(
            Filter::ilike("name", "Prod%").to_string(),
            "name ilike 'Prod%'"
        );
        assert_eq!(Filter::is_null("x").to_string(), "x is null");
        assert_eq!(Filter::is_not_null("x").to_string(), "x is not null");
        assert_eq!(Filter::eq("n", 5).to_string(), "n=5");
    }

    #[test]
    fn simplified_drops_empty_in_lists() {
        let none: [&str; 0] = [];
        assert_eq!(Filter::in_("id", none).simplified(), None);
        let f = Filter::in_("id", none).and(Filter::eq("a", "b"));
        assert_eq!(f.simplified(), None);
        let f = Filter::in_("id", none)
            .or(Filter::eq("organization_id", "o"))
            .and(Filter::eq("managed", true));
        assert_eq!(
            f.simplified().unwrap().to_string(),
            "organization_id='o' and managed='true'"
        );
    }

    #[test]
    fn chunked_splits_long_lists_and_keeps_short_ones() {
        let ids: Vec<String> = (0..250).map(|i| format!("s{i}")).collect();
        let f = Filter::eq("managed", true).and(Filter::in_("subscription.id", ids.clone()));
        let chunks = f.chunked(100);
        assert_eq!(chunks.len(), 3);
        let mut seen = Vec::new();
        for c in &chunks {
            let Filter::And(parts) = c else {
                panic!("shape changed: {c}")
            };
            assert_eq!(parts[0], Filter::eq("managed", true));
            let Filter::In { values, .. } = &parts[1] else {
                panic!("shape changed: {c}")
            };
            assert!(values.len() <= 100);
            seen.extend(values.iter().cloned());
        }
        let expected: Vec<Value> = ids.into_iter().map(Value::Str).collect();
        assert_eq!(seen, expected);

        let short = Filter::in_("id", ["a", "b"]);
        assert_eq!(short.chunked(100), vec![short.clone()]);
    }

    #[test]
    fn chunked_handles_two_long_lists_as_a_product() {
        let a: Vec<String> = (0..3).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (0..3).map(|i| format!("b{i}")).collect();
        let f = Filter::in_("x", a).or(Filter::in_("y", b));
        // 2 chunks of x times 2 chunks of y.
        assert_eq!(f.chunked(2).len(), 4);
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            ("[a-z]{1,3}", ".*").prop_map(|(f, v)| Filter::eq(f, v)),
            ("[a-z]{1,3}", ".*").prop_map(|(f, v)| Filter::like(f, v)),
            ("[a-z]{1,3}", prop::collection::vec("[a-c']{0,3}", 1..6))
                .prop_map(|(f, vs)| Filter::in_(f, vs)),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
                (inner.clone(), inner).prop_map(|(a, b)| a.or(b)),
            ]
        })
    }

    /// Evaluate a filter against a record where every field holds `value` (enough
    /// to check that chunking preserves meaning for `in` lists over one value).
    fn matches(f: &Filter, value: &str) -> bool {
        match f {
            Filter::Compare { value: v, .. } => *v == Value::Str(value.to_owned()),
            Filter::Like { .. } | Filter::IsNull { .. } => false,
            Filter::In { values, .. } => values.contains(&Value::Str(value.to_owned())),
            Filter::And(parts) => parts.iter().all(|p| matches(p, value)),
            Filter::Or(parts) => parts.iter().any(|p| matches(p, value)),
        }
    }

    proptest! {
        #[test]
        fn any_string_round_trips_through_quoting(s in ".*") {
            let quoted = quote(&s);
            let (back, rest) = unquote(&quoted).expect("quoted literal must be closed");
            prop_assert_eq!(back, s);
            prop_assert_eq!(rest, "");
        }

        #[test]
        fn eq_value_is_recoverable_from_the_rendered_filter(s in ".*") {
            let rendered = Filter::eq("summary", s.as_str()).to_string();
            let literal = rendered.strip_prefix("summary=").expect("field then =");
            let (back, rest) = unquote(literal).expect("closed literal");
            prop_assert_eq!(back, s);
            prop_assert_eq!(rest, "");
        }

        #[test]
        fn chunking_preserves_meaning(f in arb_filter(), probe in "[a-c']{0,3}", max in 1usize..4) {
            let whole = matches(&f, &probe);
            let parts = f.chunked(max);
            let union = parts.iter().any(|p| matches(p, &probe));
            prop_assert_eq!(whole, union);
            for p in &parts {
                let mut stack = vec![p];
                while let Some(n) = stack.pop() {
                    match n {
                        Filter::In { values, .. } => prop_assert!(values.len() <= max),
                        Filter::And(ps) | Filter::Or(ps) => stack.extend(ps.iter()),
                        _ => {}
                    }
                }
            }
        }
    }
}
