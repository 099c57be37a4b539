//! How an organization's pass ends (§1.3): the closed vocabulary behind the
//! `cause` and `kind` labels. Only [`Outcome::Failure`] is a bad event, so a user's
//! mistake cannot reach an error counter: the type does not allow it.

/// Why a pass failed, for reasons that an SRE action fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureCause {
    /// A bug, unexpected data, or an OCM 4xx caused by a payload we built. Also
    /// the fail-safe default for anything not classified.
    Internal,
    /// OCM 5xx, 429 after retries, timeouts, connection errors.
    OcmApi,
    /// Our credentials were refused where they worked before.
    OcmAuth,
    /// The organization's pass overran its deadline and was cancelled.
    Deadline,
    /// Telling a user about their error (service log) failed.
    Notify,
}

impl FailureCause {
    pub const ALL: [FailureCause; 5] = [
        FailureCause::Internal,
        FailureCause::OcmApi,
        FailureCause::OcmAuth,
        FailureCause::Deadline,
        FailureCause::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Internal => "internal",
            FailureCause::OcmApi => "ocm_api",
            FailureCause::OcmAuth => "ocm_auth",
            FailureCause::Deadline => "deadline",
            FailureCause::Notify => "notify",
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem only the user can fix; told to them by service log, never paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserErrorKind {
    /// Invalid or missing labels, unknown references, unverified inheritance.
    ConfigError,
    /// Cluster or organization state only the user can change (for example access
    /// never granted to our service account).
    UserState,
}

impl UserErrorKind {
    pub const ALL: [UserErrorKind; 2] = [UserErrorKind::ConfigError, UserErrorKind::UserState];

    pub fn as_str(self) -> &'static str {
        match self {
            UserErrorKind::ConfigError => "config_error",
            UserErrorKind::UserState => "user_state",
        }
    }
}

/// How one organization's pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    UserError(UserErrorKind),
    Failure(FailureCause),
}

impl Outcome {
    /// Whether this is a bad event of the `aus-reconcile` SLO.
    pub fn is_bad(self) -> bool {
        match self {
            Outcome::Failure(_) => true,
            Outcome::Success | Outcome::UserError(_) => false,
        }
    }
}

/// OCM write operations counted by `srecap_aus_ocm_writes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WriteOperation {
    CreateUpgradePolicy,
    UpdateChannel,
    /// A version-gate agreement by the approver (R110).
    CreateVersionAgreement,
    PostServiceLog,
}

impl WriteOperation {
    pub const ALL: [WriteOperation; 4] = [
        WriteOperation::CreateUpgradePolicy,
        WriteOperation::UpdateChannel,
        WriteOperation::CreateVersionAgreement,
        WriteOperation::PostServiceLog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteOperation::CreateUpgradePolicy => "create_upgrade_policy",
            WriteOperation::UpdateChannel => "update_channel",
            WriteOperation::CreateVersionAgreement => "create_version_agreement",
            WriteOperation::PostServiceLog => "post_service_log",
        }
    }
}
