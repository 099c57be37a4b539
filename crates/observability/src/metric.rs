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
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Whether the family carries the shard labels of an organization.
    pub fn is_org_sharded(&self) -> bool {
        self.labels.contains(&"ocm_env") && self.labels.contains(&"org_id")
    }
}
