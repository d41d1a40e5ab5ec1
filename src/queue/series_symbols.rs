//! The label symbols of a shard's series for Remote Write 2.0, kept between requests.
//!
//! A 2.0 request has its own symbol table, so every request must intern each of its series'
//! label names and values again: about 16 strings per W1 sample, each a hash and a compare.
//! A shard instead interns each series' labels once into a dictionary that outlives
//! requests, and keeps the dictionary indices per cache slot; the encoder then maps each
//! dictionary symbol to its request symbol with an array lookup
//! ([`crate::wire::rw2::Rw2Encoder::add_series_dictionary`]).
//!
//! Entries are checked against the slot's generation, so a slot reused by another series is
//! interned afresh. Strings of series that left are not removed one by one: when the
//! dictionary or the index arena holds more than twice what the live entries use (plus a
//! floor), everything is dropped and rebuilt lazily, which bounds the memory to about twice
//! the label symbols of the series the shard has cached.

use crate::wire::rw2::{SymbolTable, intern_encoded_labels};

/// Indices and symbols below which no rebuild happens (a rebuild of a small table is not
/// worth its cost).
const REBUILD_FLOOR: usize = 1 << 16;

/// The dictionary indices of one cache slot's series.
#[derive(Debug, Clone, Copy)]
struct SlotSymbols {
    /// The generation of the series interned.
    generation: u32,
    /// Where its indices start in the arena.
    start: u32,
    /// How many indices (twice its labels).
    len: u32,
}

/// One shard's dictionary of label symbols and each cached series' indices into it.
#[derive(Debug)]
pub struct SeriesSymbols {
    /// Every label name and value interned so far (since the last rebuild).
    dictionary: SymbolTable,
    /// Per cache slot, the series' indices, if interned.
    slots: Vec<Option<SlotSymbols>>,
    /// The indices of every entry, back to back.
    arena: Vec<u32>,
    /// Indices in the arena that live entries use.
    live: usize,
}

impl Default for SeriesSymbols {
    fn default() -> Self {
        SeriesSymbols::new()
    }
}

impl SeriesSymbols {
    /// An empty dictionary.
    pub fn new() -> SeriesSymbols {
        SeriesSymbols {
            dictionary: SymbolTable::new(),
            slots: Vec::new(),
            arena: Vec::new(),
            live: 0,
        }
    }

    /// Drops everything when the arena or the dictionary holds more than twice what the live
    /// entries use (plus [`REBUILD_FLOOR`]). Call between requests only: the indices of a
    /// request's series must stay valid while it is encoded.
    pub fn rebuild_if_wasteful(&mut self) {
        let bound = 2 * self.live + REBUILD_FLOOR;
        if self.arena.len() > bound || self.dictionary.len() > bound {
            *self = SeriesSymbols::new();
        }
    }

    /// The dictionary indices of the labels of the series in cache `slot` at `generation`
    /// (its 1.0 label bytes `encoded_labels`), interned now if they were not, and the
    /// dictionary they index.
    pub fn label_ids(
        &mut self,
        slot: u32,
        generation: u32,
        encoded_labels: &[u8],
    ) -> (&[u32], &SymbolTable) {
        let index = slot as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        let entry = match self.slots[index] {
            Some(entry) if entry.generation == generation => entry,
            previous => {
                if let Some(previous) = previous {
                    self.live -= previous.len as usize;
                }
                let start = self.arena.len();
                intern_encoded_labels(&mut self.dictionary, encoded_labels, &mut self.arena);
                let len = self.arena.len() - start;
                self.live += len;
                let entry = SlotSymbols {
                    generation,
                    start: u32::try_from(start).expect("fewer than 2^32 label symbols per shard"),
                    len: len as u32,
                };
                self.slots[index] = Some(entry);
                entry
            }
        };
        let start = entry.start as usize;
        (
            &self.arena[start..start + entry.len as usize],
            &self.dictionary,
        )
    }

    /// Symbols in the dictionary (for tests of rebuilding).
    #[cfg(test)]
    fn dictionary_len(&self) -> usize {
        self.dictionary.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rw1;

    fn encoded(pairs: &[(&str, &str)]) -> Vec<u8> {
        rw1::encode_label_pairs(pairs.iter().copied())
    }

    fn strings(
        symbols: &mut SeriesSymbols,
        slot: u32,
        generation: u32,
        labels: &[u8],
    ) -> Vec<String> {
        let (ids, dictionary) = symbols.label_ids(slot, generation, labels);
        ids.iter()
            .map(|&id| String::from_utf8(dictionary.bytes(id as usize).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_slot_keeps_its_indices_until_its_generation_changes() {
        let mut symbols = SeriesSymbols::new();
        let a = encoded(&[("__name__", "up"), ("job", "a")]);
        let b = encoded(&[("__name__", "up"), ("job", "b")]);
        let first = symbols.label_ids(3, 1, &a).0.to_vec();
        assert_eq!(first.len(), 4);
        // Same slot and generation: the cached indices, even given other bytes.
        assert_eq!(symbols.label_ids(3, 1, &b).0, first.as_slice());
        assert_eq!(
            strings(&mut symbols, 3, 1, &b),
            ["__name__", "up", "job", "a"]
        );
        // A new generation of the slot: interned afresh, sharing the common symbols.
        let second = symbols.label_ids(3, 2, &b).0.to_vec();
        assert_eq!(second[..3], first[..3]);
        assert_ne!(second[3], first[3]);
        assert_eq!(
            strings(&mut symbols, 3, 2, &b),
            ["__name__", "up", "job", "b"]
        );
        assert_eq!(symbols.live, 4);
    }

    #[test]
    fn churn_rebuilds_the_dictionary_instead_of_growing_it() {
        let mut symbols = SeriesSymbols::new();
        let mut largest = 0;
        for generation in 0..200_000u32 {
            let labels = encoded(&[("__name__", "m"), ("pod", &generation.to_string())]);
            let (ids, dictionary) = symbols.label_ids(generation % 10, generation, &labels);
            assert_eq!(
                dictionary.bytes(ids[3] as usize),
                generation.to_string().as_bytes()
            );
            symbols.rebuild_if_wasteful();
            largest = largest.max(symbols.dictionary_len().max(symbols.arena.len()));
        }
        assert!(largest <= 2 * 40 + REBUILD_FLOOR + 4, "grew to {largest}");
        assert!(symbols.live <= 40);
    }
}
