//! Which host should run a unit: rendezvous (highest-random-weight) hashing
//! over the live hosts that satisfy the unit's required labels.
//!
//! Every host computes the same ranking from the same inputs, with no
//! messages exchanged: the first host of a unit's ranking claims it. When a
//! host joins or leaves, only the units whose first choice changes move (one
//! in N for N hosts), never a reshuffle of everything.

use super::membership::HostRecord;

/// 64-bit FNV-1a, then a splitmix64 finaliser: the same on every host and
/// every build (unlike a seeded std hasher), spread well enough to rank.
fn weight(unit: &str, host: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in unit.bytes().chain([0xff]).chain(host.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether `host` carries every label in `requires`.
pub fn satisfies(host: &HostRecord, requires: &[String]) -> bool {
    requires.iter().all(|r| host.labels.iter().any(|l| l == r))
}

/// The hosts eligible for `unit` (carrying every label it requires), best
/// first. Ties (never in practice) break by host id, so the order is total.
pub fn rank<'a>(unit: &str, requires: &[String], hosts: &'a [HostRecord]) -> Vec<&'a HostRecord> {
    let mut eligible: Vec<&HostRecord> = hosts.iter().filter(|h| satisfies(h, requires)).collect();
    eligible.sort_by(|a, b| {
        weight(unit, &b.id)
            .cmp(&weight(unit, &a.id))
            .then_with(|| a.id.cmp(&b.id))
    });
    eligible
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, labels: &[&str]) -> HostRecord {
        HostRecord {
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            ..HostRecord::new(id, "s", 100, "test")
        }
    }

    #[test]
    fn every_host_ranks_the_same_and_units_spread() {
        let hosts = vec![host("a", &[]), host("b", &[]), host("c", &[])];
        let mut first = std::collections::HashMap::new();
        for i in 0..300 {
            let unit = format!("worker-{i}");
            let r1: Vec<_> = rank(&unit, &[], &hosts)
                .iter()
                .map(|h| h.id.clone())
                .collect();
            let mut reversed = hosts.clone();
            reversed.reverse();
            let r2: Vec<_> = rank(&unit, &[], &reversed)
                .iter()
                .map(|h| h.id.clone())
                .collect();
            assert_eq!(
                r1, r2,
                "the ranking does not depend on the order hosts are listed"
            );
            *first.entry(r1[0].clone()).or_insert(0) += 1;
        }
        for (h, n) in &first {
            assert!(
                (60..=140).contains(n),
                "host {h} is first for {n} of 300 units"
            );
        }
    }

    #[test]
    fn a_leaving_host_moves_only_its_own_units() {
        let three = vec![host("a", &[]), host("b", &[]), host("c", &[])];
        let two = vec![host("a", &[]), host("b", &[])];
        for i in 0..200 {
            let unit = format!("u{i}");
            let before = rank(&unit, &[], &three)[0].id.clone();
            let after = rank(&unit, &[], &two)[0].id.clone();
            if before != "c" {
                assert_eq!(before, after, "unit {unit} moved although its host stayed");
            }
        }
    }

    #[test]
    fn required_labels_leave_out_hosts_without_them() {
        let hosts = vec![
            host("a", &["gpu"]),
            host("b", &[]),
            host("c", &["gpu", "eu"]),
        ];
        let ranked = rank("model", &["gpu".to_owned(), "eu".to_owned()], &hosts);
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].id, "c");
        assert!(rank("model", &["arm".to_owned()], &hosts).is_empty());
    }
}
