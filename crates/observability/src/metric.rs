//! Typed metric definitions: the single source of every metric name, type, help
//! text, label set and audience.

/// The Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Who a metric is for. A `User` metric describes the users' own configuration or
/// clusters: it may feed dashboards and tickets, never a page (§1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Sre,
    User,
}

/// One exported metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The name as it appears in the exposition and in PromQL (counters end in
    /// `_total`, histograms are the base of `_bucket`/`_sum`/`_count`).
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Label names in the order the exporter writes them.
    pub labels: &'static [&'static str],
    pub audience: Audience,
    /// Dashboard unit (Grafana unit id).
    pub unit: &'static str,
}

impl MetricDef {
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        audience: Audience,
    ) -> MetricDef {
        MetricDef {
            name,
            kind: Kind::Counter,
            help,
            labels,
            audience,
            unit: "short",
        }
    }

    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        audience: Audience,
    ) -> MetricDef {
        MetricDef {
            name,
            kind: Kind::Gauge,
            help,
            labels,
            audience,
            unit: "short",
        }
    }

    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        audience: Audience,
    ) -> MetricDef {
        MetricDef {
            name,
            kind: Kind::Histogram,
            help,
            labels,
            audience,
            unit: "s",
        }
    }

    #[must_use]
    pub const fn with_unit(self, unit: &'static str) -> MetricDef {
        MetricDef { unit, ..self }
    }

    /// The name to register with `prometheus-client`, whose encoder appends
    /// `_total` to counters itself.
    pub fn registered_name(&self) -> &'static str {
        match self.kind {
            Kind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            Kind::Gauge | Kind::Histogram => self.name,
        }
    }

    /// Every sample name this family produces in the exposition.
    pub fn sample_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Counter | Kind::Gauge => vec![self.name.to_owned()],
            Kind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect(),
        }
    }

    /// The label pairs of one series, named by this definition. `values` are in
    /// the order of [`MetricDef::labels`]; a length mismatch is a programming error
    /// caught by the tests that scrape every family.
    pub fn label_pairs(&self, values: &[&str]) -> Vec<(String, String)> {
        debug_assert_eq!(
            values.len(),
            self.labels.len(),
            "{}: label values do not match {:?}",
            self.name,
            self.labels
        );
        self.labels
            .iter()
            .zip(values)
            .map(|(k, v)| ((*k).to_owned(), capped(v)))
            .collect()
    }

    /// Whether the family carries the shard labels of an organization.
    pub fn is_org_sharded(&self) -> bool {
        self.labels.contains(&"ocm_env") && self.labels.contains(&"org_id")
    }
}

/// The longest label value exported, in characters. Label values come from
/// tenants' OCM labels (cluster names, schedules, workloads): without a cap a
/// hostile or careless label makes every series, and every scrape, as large as
/// it likes.
pub const MAX_LABEL_CHARS: usize = 128;

/// The most items a list-valued label (workloads, mutexes) names; the rest are
/// summarised as `+N more`, so a cluster with a thousand workloads is still one
/// short series.
pub const MAX_LABEL_ITEMS: usize = 20;

/// `value` cut to [`MAX_LABEL_CHARS`] characters, the cut marked with `…`.
pub fn capped(value: &str) -> String {
    match value.char_indices().nth(MAX_LABEL_CHARS) {
        // Longer than the cap: keep MAX_LABEL_CHARS - 1 characters and the mark.
        Some(_) => {
            let keep: String = value.chars().take(MAX_LABEL_CHARS - 1).collect();
            format!("{keep}…")
        }
        None => value.to_owned(),
    }
}

/// A list as one label value: the first [`MAX_LABEL_ITEMS`] items joined by
/// commas, then `+N more` for the rest.
pub fn list_label<S: AsRef<str>>(items: &[S]) -> String {
    let mut shown: Vec<&str> = items
        .iter()
        .take(MAX_LABEL_ITEMS)
        .map(AsRef::as_ref)
        .collect();
    let rest = items.len().saturating_sub(MAX_LABEL_ITEMS);
    let more = format!("+{rest} more");
    if rest > 0 {
        shown.push(&more);
    }
    shown.join(",")
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(capped("short"), "short");
        let exact = "é".repeat(MAX_LABEL_CHARS);
        assert_eq!(capped(&exact), exact);
        let long = "é".repeat(MAX_LABEL_CHARS + 5);
        let cut = capped(&long);
        assert_eq!(cut.chars().count(), MAX_LABEL_CHARS);
        assert!(cut.ends_with('…'));
        let def = MetricDef::gauge("x", "x", &["a"], crate::Audience::Sre);
        assert_eq!(
            def.label_pairs(&[&"w".repeat(1000)])[0].1.chars().count(),
            MAX_LABEL_CHARS
        );
    }

    #[test]
    fn long_lists_are_summarised() {
        assert_eq!(list_label(&["a", "b"]), "a,b");
        let many: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        let label = list_label(&many);
        assert!(label.starts_with("w0,w1,"), "{label}");
        assert!(label.ends_with(",w19,+980 more"), "{label}");
        let twenty: Vec<String> = many[..MAX_LABEL_ITEMS].to_vec();
        assert!(!list_label(&twenty).contains("more"));
    }
}
