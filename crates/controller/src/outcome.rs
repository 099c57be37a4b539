//! Classifying how an organization's pass ended (slo-alerting §1.3): who has to
//! act to fix it? Every error maps through exhaustive matches, so a new error
//! variant does not compile until someone decides; anything genuinely unknown
//! is `internal`, a bad event that can page (fail-safe).

use srecap_observability::{FailureCause, Outcome, UserErrorKind};
use srecap_ocm::OcmError;

use crate::error::PassError;

/// How an OCM error counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcmVerdict {
    /// A bad event with its cause.
    Bad(FailureCause),
    /// Only the user can fix it (access never granted).
    User(UserErrorKind),
    /// A race that the next pass resolves (404 deleted meanwhile, 409 exists).
    Benign,
}

/// Classify an OCM error. `succeeded_before`: whether this organization ever
/// reconciled without a bad event in this process, which tells a revoked access
/// (ours to fix) from one never granted (the user's).
pub fn classify_ocm(error: &OcmError, succeeded_before: bool) -> OcmVerdict {
    match error {
        OcmError::Api { status, .. } => match *status {
            401 | 403 if succeeded_before => OcmVerdict::Bad(FailureCause::OcmAuth),
            401 | 403 => OcmVerdict::User(UserErrorKind::UserState),
            404 | 409 => OcmVerdict::Benign,
            408 | 429 | 500..=599 => OcmVerdict::Bad(FailureCause::OcmApi),
            // Any other status (400, 422, ...) means a request we built is wrong,
            // or OCM said something we do not understand: ours.
            0..=403 | 405..=407 | 410..=428 | 430..=499 | 600..=u16::MAX => {
                OcmVerdict::Bad(FailureCause::Internal)
            }
        },
        OcmError::Transport { .. } | OcmError::Timeout { .. } => {
            OcmVerdict::Bad(FailureCause::OcmApi)
        }
        OcmError::Auth(_) => OcmVerdict::Bad(FailureCause::OcmAuth),
        OcmError::Decode { .. }
        | OcmError::InvalidPathSegment { .. }
        | OcmError::InvalidApiUrl { .. }
        | OcmError::Rate(_)
        | OcmError::Build(_) => OcmVerdict::Bad(FailureCause::Internal),
    }
}

/// The outcome of an organization's pass.
///
/// * `result`: the pass's result; an `Ok` plan with validation errors is a user
///   error (the organization is frozen and told by service log).
/// * `write_causes`: causes of OCM writes that failed with a bad cause during
///   the pass. The reference only logs a failed upgrade-policy creation; here it
///   fails the organization's reconcile, so it burns the budget (§1.1).
pub fn classify<T>(
    result: &Result<T, PassError>,
    has_validation_errors: impl FnOnce(&T) -> bool,
    write_causes: &[FailureCause],
    succeeded_before: bool,
) -> Outcome {
    match result {
        Ok(plan) => {
            if let Some(&cause) = write_causes.first() {
                Outcome::Failure(cause)
            } else if has_validation_errors(plan) {
                Outcome::UserError(UserErrorKind::ConfigError)
            } else {
                Outcome::Success
            }
        }
        Err(e) => classify_error(e, write_causes, succeeded_before),
    }
}

/// The outcome of a pass that ended in `error`.
pub fn classify_error(
    error: &PassError,
    write_causes: &[FailureCause],
    succeeded_before: bool,
) -> Outcome {
    match error {
        PassError::Ocm(e) => match classify_ocm(e, succeeded_before) {
            OcmVerdict::Bad(cause) => Outcome::Failure(cause),
            OcmVerdict::User(kind) => Outcome::UserError(kind),
            OcmVerdict::Benign => Outcome::Success,
        },
        PassError::Store(_) | PassError::BadAnswer { .. } | PassError::Health(_) => {
            Outcome::Failure(FailureCause::Internal)
        }
        // The failed switches were classified one by one as writes.
        PassError::ChannelSwitches(_) => Outcome::Failure(
            write_causes
                .first()
                .copied()
                .unwrap_or(FailureCause::Internal),
        ),
        PassError::Feedback(_) => Outcome::Failure(FailureCause::Notify),
        PassError::Deadline { .. } => Outcome::Failure(FailureCause::Deadline),
        // Nothing a user did; counted as ours, like any pass that did not end.
        PassError::Cancelled => Outcome::Failure(FailureCause::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use srecap_ocm::model::ApiErrorBody;

    fn api(status: u16) -> OcmError {
        OcmError::Api {
            method: "POST".into(),
            path: "/api/x".into(),
            status,
            body: Box::new(ApiErrorBody::default()),
        }
    }

    #[test]
    fn ocm_statuses_map_to_who_must_act() {
        assert_eq!(
            classify_ocm(&api(503), true),
            OcmVerdict::Bad(FailureCause::OcmApi)
        );
        assert_eq!(
            classify_ocm(&api(429), false),
            OcmVerdict::Bad(FailureCause::OcmApi)
        );
        assert_eq!(
            classify_ocm(&api(400), true),
            OcmVerdict::Bad(FailureCause::Internal)
        );
        assert_eq!(
            classify_ocm(&api(422), true),
            OcmVerdict::Bad(FailureCause::Internal)
        );
        assert_eq!(
            classify_ocm(&api(403), true),
            OcmVerdict::Bad(FailureCause::OcmAuth)
        );
        assert_eq!(
            classify_ocm(&api(403), false),
            OcmVerdict::User(UserErrorKind::UserState)
        );
        assert_eq!(classify_ocm(&api(404), true), OcmVerdict::Benign);
        assert_eq!(classify_ocm(&api(409), true), OcmVerdict::Benign);
    }

    #[test]
    fn validation_errors_are_user_errors_and_failed_writes_are_failures() {
        let ok: Result<bool, PassError> = Ok(true);
        assert_eq!(
            classify(&ok, |v| *v, &[], true),
            Outcome::UserError(UserErrorKind::ConfigError)
        );
        assert_eq!(
            classify(&ok, |v| *v, &[FailureCause::OcmApi], true),
            Outcome::Failure(FailureCause::OcmApi)
        );
        let clean: Result<bool, PassError> = Ok(false);
        assert_eq!(classify(&clean, |v| *v, &[], true), Outcome::Success);
        let notify: Result<bool, PassError> = Err(PassError::Feedback(vec!["x".into()]));
        assert_eq!(
            classify(&notify, |v| *v, &[], true),
            Outcome::Failure(FailureCause::Notify)
        );
        let bad: Result<bool, PassError> = Err(PassError::BadAnswer {
            cluster: "c".into(),
            reason: "r".into(),
        });
        assert_eq!(
            classify(&bad, |v| *v, &[], true),
            Outcome::Failure(FailureCause::Internal)
        );
    }
}
