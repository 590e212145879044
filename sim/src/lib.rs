//! # locklab-sim: the simulated world
//!
//! A discrete-event engine ([`world`]) that runs the protocol state machines of
//! `locklab-protocols` against simulated clocks ([`clock`]), an unreliable network, process
//! pauses, crashes and restarts, driven by scenario files ([`scenario`], [`build`]), and records
//! a history and a text trace ([`trace`]). One root seed, split per subsystem, decides every
//! random choice: the same scenario, seed and binary give byte-identical traces.

pub mod build;
pub mod clock;
pub mod queue;
pub mod scenario;
pub mod trace;
pub mod world;

pub use build::{compile, Compiled, Variant};
pub use scenario::{load, parse, InputError, Scenario};
pub use world::{Stats, World, WorldSpec};

/// Load, parse and validate a scenario file.
pub fn load_compiled(path: &std::path::Path) -> Result<Compiled, InputError> {
    let (scenario, source) = load(path)?;
    compile(&path.display().to_string(), &source, scenario)
}
