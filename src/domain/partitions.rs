//! Partitions: which one a monitor belongs to (its results stream, and the
//! lease that decides who schedules and folds it), and which partitions each
//! live instance of a role should own: every instance computes the same
//! answer from the same member list, and each gets ⌊P/n⌋ or ⌈P/n⌉ of them.

use std::collections::BTreeSet;

use uuid::Uuid;

/// The partition a monitor belongs to, out of `partitions`: its results stream
/// and (for scale-out) the lease that decides who schedules and folds it.
/// Every process computes the same answer.
pub fn partition_of(monitor_id: Uuid, partitions: u16) -> u16 {
    let count = u128::from(partitions.max(1));
    // The remainder is below `partitions`, so it fits.
    u16::try_from(monitor_id.as_u128() % count).unwrap_or(0)
}

/// The partitions `me` should own among `members` (in any order; duplicates
/// ignored). Partition `p` goes to the `p mod n`-th member in sorted order.
pub fn assigned_to(members: &[String], partitions: u16, me: &str) -> BTreeSet<u16> {
    let sorted: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let sorted: Vec<&str> = sorted.into_iter().collect();
    let Some(position) = sorted.iter().position(|m| *m == me) else {
        return BTreeSet::new();
    };
    (0..partitions)
        .filter(|p| usize::from(*p) % sorted.len() == position)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn every_monitor_lands_in_one_of_the_partitions(id: u128, partitions in 1u16..=1024) {
            let partition = partition_of(Uuid::from_u128(id), partitions);
            prop_assert!(partition < partitions);
            prop_assert_eq!(partition, partition_of(Uuid::from_u128(id), partitions));
        }
    }

    #[test]
    fn random_ids_spread_over_the_partitions() {
        let mut seen = [0u32; 8];
        for _ in 0..8_000 {
            seen[usize::from(partition_of(Uuid::new_v4(), 8))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 700), "uneven spread: {seen:?}");
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_partition_has_exactly_one_owner_and_shares_are_balanced(
            n in 1usize..20,
            partitions in 1u16..300,
        ) {
            let members: Vec<String> = (0..n).map(|i| format!("member-{i}")).collect();
            let mut owners = vec![0u32; usize::from(partitions)];
            for me in &members {
                let mine = assigned_to(&members, partitions, me);
                let low = usize::from(partitions) / n;
                prop_assert!(mine.len() == low || mine.len() == low + 1);
                for p in mine {
                    owners[usize::from(p)] += 1;
                }
            }
            prop_assert!(owners.iter().all(|&o| o == 1));
        }
    }

    #[test]
    fn a_stranger_owns_nothing_and_order_does_not_matter() {
        let members = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        assert!(assigned_to(&members, 8, "z").is_empty());
        let shuffled = vec!["c".to_owned(), "a".to_owned(), "b".to_owned()];
        assert_eq!(
            assigned_to(&members, 8, "a"),
            assigned_to(&shuffled, 8, "a")
        );
        assert_eq!(assigned_to(&members, 8, "a"), BTreeSet::from([0, 3, 6]));
    }
}
