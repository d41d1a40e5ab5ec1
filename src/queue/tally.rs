//! Per-call counts of samples pushed to each shard, published to the shards' shared counters
//! in groups, so a batch append does not write a shared counter for every sample.

/// Shards whose counts a tally can hold; pushes to further shards are published one by one.
pub(crate) const TALLY_SHARDS: usize = 16;

/// Samples pushed to each shard of one endpoint and not yet added to its counters.
#[derive(Debug, Default, Clone)]
pub struct PushTally {
    counts: [u64; TALLY_SHARDS],
    highest: [i64; TALLY_SHARDS],
}

impl PushTally {
    /// Counts a sample with `timestamp` pushed to shard `index` (< [`TALLY_SHARDS`]); returns
    /// the shard's held count.
    pub fn count(&mut self, index: usize, timestamp: i64) -> u64 {
        let count = &mut self.counts[index];
        if *count == 0 || self.highest[index] < timestamp {
            self.highest[index] = timestamp;
        }
        *count += 1;
        *count
    }

    /// Takes shard `index`'s held count and highest timestamp, if it holds any.
    pub fn take(&mut self, index: usize) -> Option<(u64, i64)> {
        let count = std::mem::take(&mut self.counts[index]);
        (count > 0).then_some((count, self.highest[index]))
    }

    /// The shards holding counts.
    pub fn shards_with_counts(&self) -> Vec<usize> {
        (0..TALLY_SHARDS).filter(|&i| self.counts[i] > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_highest_timestamp_per_shard_until_taken() {
        let mut tally = PushTally::default();
        assert_eq!(tally.count(2, 10), 1);
        assert_eq!(tally.count(2, 5), 2);
        assert_eq!(tally.count(0, 7), 1);
        assert_eq!(tally.shards_with_counts(), vec![0, 2]);
        assert_eq!(tally.take(2), Some((2, 10)));
        assert_eq!(tally.take(2), None);
        assert_eq!(tally.count(2, 3), 1, "a fresh count after take");
        assert_eq!(tally.take(2), Some((1, 3)));
    }
}
