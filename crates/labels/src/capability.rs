//! What a capability declares about itself: its name (the `<capability>` of
//! `sre-capabilities.<capability>.<setting>`), a one-line summary, and its label
//! sets with where each goes (a cluster's subscription or its organization).
//!
//! The same declarations validate labels in the reconciler and in the CLI's
//! writing commands, and `srecap capabilities` lists them: what a team can
//! switch on, and with which labels, is read from one place.

use crate::LabelSetDecl;

/// Where a label set is put in OCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelScope {
    /// The cluster's subscription.
    Cluster,
    /// The cluster's organization (applies to all its clusters).
    Organization,
}

impl LabelScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelScope::Cluster => "cluster",
            LabelScope::Organization => "organization",
        }
    }
}

/// One capability's self-description.
#[derive(Debug, Clone, Copy)]
pub struct CapabilityDecl {
    /// `aus`, `rhidp`.
    pub name: &'static str,
    /// One line: what switching it on gives a team.
    pub summary: &'static str,
    /// Its label sets, each with where it goes.
    pub label_sets: &'static [(LabelScope, &'static LabelSetDecl)],
}

impl CapabilityDecl {
    /// `sre-capabilities.<name>`: every label of the capability starts with it.
    pub fn namespace(&self) -> String {
        format!("{}{}", crate::PREFIX, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LabelDecl, LabelKind};

    const SET: LabelSetDecl = LabelSetDecl {
        capability: "demo",
        labels: &[LabelDecl {
            setting: "status",
            kind: LabelKind::Text,
            required: false,
            summary: "on or off",
        }],
    };

    #[test]
    fn the_namespace_is_the_label_prefix_without_its_dot() {
        let decl = CapabilityDecl {
            name: "demo",
            summary: "a demo",
            label_sets: &[(LabelScope::Cluster, &SET)],
        };
        assert_eq!(decl.namespace(), "sre-capabilities.demo");
        assert_eq!(
            SET.prefix(),
            format!("{}.", decl.namespace()),
            "label keys start with the namespace"
        );
    }
}
