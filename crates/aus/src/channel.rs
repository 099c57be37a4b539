//! Y-stream channel switches (§11).

/// Split a y-stream channel (`stable-4.20`) into prefix, major and minor (R101).
pub fn y_stream(channel: &str) -> Option<(&str, u64, u64)> {
    let (prefix, suffix) = channel.rsplit_once('-')?;
    let (major, minor) = suffix.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some((prefix, major.parse().ok()?, minor.parse().ok()?))
}

/// The next y-stream channel (R102): minor + 1, except that `eus` channels only
/// exist for even minors.
pub fn next_channel(channel: &str) -> Option<String> {
    let (prefix, major, minor) = y_stream(channel)?;
    let mut next = minor + 1;
    if prefix == "eus" && next % 2 == 1 {
        next += 1;
    }
    Some(format!("{prefix}-{major}.{next}"))
}

/// The channel to switch to, if any (R103): the next y-stream channel when OCM
/// offers it. Nothing else is checked, as in the reference (§18 G22).
pub fn switch_target(channel: &str, available_channels: &[String]) -> Option<String> {
    let target = next_channel(channel)?;
    (target != channel && available_channels.contains(&target)).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w21_r101_y_stream_channels() {
        assert_eq!(y_stream("stable-4.20"), Some(("stable", 4, 20)));
        assert_eq!(y_stream("eus-4.22"), Some(("eus", 4, 22)));
        assert_eq!(y_stream("fast-4.21"), Some(("fast", 4, 21)));
        assert_eq!(y_stream("candidate-4.19"), Some(("candidate", 4, 19)));
        for no in [
            "stable",
            "stable-4.x",
            "stable-4",
            "stable-4.20.1",
            "stable-.20",
        ] {
            assert_eq!(y_stream(no), None, "{no}");
        }
    }

    #[test]
    fn w21_r102_targets() {
        assert_eq!(next_channel("stable-4.20").as_deref(), Some("stable-4.21"));
        assert_eq!(next_channel("eus-4.20").as_deref(), Some("eus-4.22"));
        assert_eq!(next_channel("eus-4.22").as_deref(), Some("eus-4.24"));
        assert_eq!(next_channel("eus-4.21").as_deref(), Some("eus-4.22"));
        assert_eq!(next_channel("fast-4.21").as_deref(), Some("fast-4.22"));
        assert_eq!(next_channel("stable"), None);
    }

    #[test]
    fn w21_r103_switch_only_when_offered() {
        let ch = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            switch_target(
                "stable-4.21",
                &ch(&["stable-4.21", "fast-4.21", "fast-4.22"])
            ),
            None
        );
        assert_eq!(switch_target("stable-4.21", &[]), None);
        assert_eq!(
            switch_target("stable-4.21", &ch(&["stable-4.21", "stable-4.22"])).as_deref(),
            Some("stable-4.22")
        );
    }
}
