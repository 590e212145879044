//! # locklab
//!
//! The `locklab` command's library half: run a scenario against a protocol variant with a seed,
//! check the history, and render the results. The binary (`src/main.rs`) is a thin clap shell.
//!
//! ```no_run
//! let compiled = locklab_sim::load_compiled("scenarios/01-gc-pause.toml".as_ref()).unwrap();
//! let variant = compiled.variant("lease").unwrap();
//! let result = locklab::runner::run_one(&compiled, variant, 1, false);
//! assert!(result.report.violated());
//! ```

pub mod compare;
pub mod exit;
pub mod html;
pub mod live;
pub mod output;
pub mod render;
pub mod runner;
pub mod shrink;
pub mod svg;
pub mod sweep;
pub mod timeline;
