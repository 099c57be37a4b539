//! Sectors: named groups of clusters that gate each other's versions (§4.1, R89).

use std::collections::HashMap;

use srecap_labels::ParallelLimit;

use crate::policy::SectorDecl;

/// An organization's sectors, indexed for the planner.
#[derive(Debug, Clone, Default)]
pub struct Sectors {
    names: Vec<String>,
    index: HashMap<String, usize>,
    deps: Vec<Vec<usize>>,
    max_parallel: Vec<Option<ParallelLimit>>,
}

impl Sectors {
    pub fn new(decls: &[SectorDecl]) -> Self {
        let names: Vec<String> = decls.iter().map(|d| d.name.clone()).collect();
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        // Every dependency name is itself a declared sector (R33), so lookups succeed.
        let deps = decls
            .iter()
            .map(|d| {
                d.dependencies
                    .iter()
                    .filter_map(|n| index.get(n).copied())
                    .collect()
            })
            .collect();
        let max_parallel = decls.iter().map(|d| d.max_parallel).collect();
        Sectors {
            names,
            index,
            deps,
            max_parallel,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    pub fn max_parallel(&self, id: usize) -> Option<ParallelLimit> {
        self.max_parallel[id]
    }

    pub fn dependencies(&self, id: usize) -> &[usize] {
        &self.deps[id]
    }

    /// One message per sector that can reach itself through its dependencies
    /// (R35, wording of the reference). Linear per sector: each walk visits a
    /// sector at most once.
    pub fn cycle_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for s in 0..self.len() {
            if self.deps[s].contains(&s) {
                errors.push(format!(
                    "[{}] infinite sector dependency loop detected: depending on itself",
                    self.names[s]
                ));
                continue;
            }
            for &d in &self.deps[s] {
                if self.reaches(d, s) {
                    errors.push(format!(
                        "[{}] infinite sector dependency loop detected under {} dependencies",
                        self.names[s], self.names[d]
                    ));
                    break;
                }
            }
        }
        errors
    }

    fn reaches(&self, from: usize, target: usize) -> bool {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![from];
        while let Some(s) = stack.pop() {
            for &d in &self.deps[s] {
                if d == target {
                    return true;
                }
                if !seen[d] {
                    seen[d] = true;
                    stack.push(d);
                }
            }
        }
        false
    }

    /// First-populated dependencies of `sector` (R89): walk the direct dependencies
    /// in order; a populated one is taken, an unpopulated one is replaced by its own
    /// first-populated dependencies. Each sector is expanded at most once, so
    /// diamond-shaped graphs cost linear time (§18 G31), and a sector reached twice
    /// is taken once.
    pub fn first_populated(&self, sector: usize, populated: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let mut out = Vec::new();
        let mut expanded = vec![false; self.len()];
        expanded[sector] = true;
        self.collect(sector, populated, &mut expanded, &mut out);
        out
    }

    fn collect(
        &self,
        sector: usize,
        populated: &dyn Fn(usize) -> bool,
        expanded: &mut [bool],
        out: &mut Vec<usize>,
    ) {
        for &d in &self.deps[sector] {
            if populated(d) {
                if !out.contains(&d) {
                    out.push(d);
                }
            } else if !expanded[d] {
                expanded[d] = true;
                self.collect(d, populated, expanded, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sectors(deps: &[(&str, &[&str])]) -> Sectors {
        let mut decls: Vec<SectorDecl> = deps
            .iter()
            .map(|(n, d)| SectorDecl {
                name: (*n).into(),
                dependencies: d.iter().map(|s| (*s).to_owned()).collect(),
                max_parallel: None,
            })
            .collect();
        decls.sort_by(|a, b| a.name.cmp(&b.name));
        Sectors::new(&decls)
    }

    #[test]
    fn w31_r35_cycles_are_rejected() {
        let s = sectors(&[("1", &["1"])]);
        assert_eq!(
            s.cycle_errors(),
            ["[1] infinite sector dependency loop detected: depending on itself"]
        );
        let s = sectors(&[("1", &["2"]), ("2", &["1"])]);
        assert_eq!(s.cycle_errors().len(), 2);
        let s = sectors(&[("1", &["3"]), ("2", &["1"]), ("3", &["2"])]);
        assert_eq!(
            s.cycle_errors()[0],
            "[1] infinite sector dependency loop detected under 3 dependencies"
        );
        let s = sectors(&[("1", &[]), ("2", &["1"]), ("3", &["2"])]);
        assert!(s.cycle_errors().is_empty());
    }

    #[test]
    fn r89_first_populated_descends_past_empty_sectors() {
        let s = sectors(&[("s1", &[]), ("s2", &["s1"]), ("s3", &["s2"])]);
        let s1 = s.id("s1").unwrap();
        let s2 = s.id("s2").unwrap();
        let s3 = s.id("s3").unwrap();
        assert_eq!(s.first_populated(s3, &|x| x == s2), [s2]);
        assert_eq!(s.first_populated(s3, &|x| x == s1), [s1]);
        assert!(s.first_populated(s3, &|_| false).is_empty());
        assert!(s.first_populated(s1, &|_| true).is_empty());
    }

    #[test]
    fn g31_diamonds_are_taken_once() {
        // a -> b, c ; b -> d ; c -> d ; only d populated
        let s = sectors(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
        let d = s.id("d").unwrap();
        assert_eq!(s.first_populated(s.id("a").unwrap(), &|x| x == d), [d]);
    }
}
