//! The checkers' lookup tables hash with rustc's Fx hash (the `rustc-hash` crate): fixed and
//! seedless, so a run is judged the same way every time, and a few instructions per key instead of
//! SipHash's dozens or a B-tree's chain of comparisons. Nothing iterates these tables: their order
//! never reaches a report.

pub(crate) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;
pub(crate) type FxSet<K> = rustc_hash::FxHashSet<K>;
