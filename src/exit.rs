//! Exit codes, shared by every subcommand so CI can act on them.

/// Every property holds (or, with `--expect`, every expectation is met).
pub const OK: i32 = 0;
/// A property is violated, or the run is vacuous (with `--expect`: an expectation is not met).
pub const VIOLATED: i32 = 1;
/// Bad input or usage: a scenario file, a flag, a name.
pub const BAD_INPUT: i32 = 2;
/// An internal error: a bug in locklab.
pub const INTERNAL: i32 = 3;
/// The verdict is unknown: a budget (time, states, memory) ran out before the check could decide.
pub const UNKNOWN: i32 = 4;
/// The output could not be written (a full disk, a closed descriptor; a broken pipe is not one:
/// see [`crate::output`]).
pub const OUTPUT: i32 = 5;
