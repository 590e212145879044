//! # locklab-models: exhaustive model checking over the protocol code
//!
//! The simulator runs one schedule per seed; a model checker runs *every* schedule of a small
//! configuration. This crate wraps the very node code of `locklab-protocols` (the
//! `locklab_protocols::Node` enum, driven through `Node::handle` and the `Effect`s it returns) in a
//! [stateright](https://docs.rs/stateright) [`Model`](stateright::Model). There is no second
//! implementation of any protocol: the nodes are even *built* by compiling a scenario file with
//! the simulator's compiler ([`setup`]), so a counterexample replays with the same parameters.
//!
//! * [`model`] — the model: state, actions, **how time is modelled** (a true-time tick counter,
//!   per-node clocks, timers that fire only once their node's clock reaches their deadline,
//!   time advancing only when the world is quiescent) and **the fault actions** (pause, drop,
//!   delay, crash/restart under a persistence policy, wall-clock jump), each bounded by a budget.
//! * [`spec`] — a sequential spec of a lease *with expiry* for stateright's linearizability tester.
//! * [`check`] — running the checker (BFS, DFS, random walks) and finding shortest counterexamples.
//! * [`bfs`] — the breadth-first search `check` runs (stateright's BFS keeps an action path per
//!   queued state; this one a parent fingerprint per seen state).
//! * [`export`] — counterexamples as scenario files for `locklab run`, and as step lists.
//! * [`cli`] — `locklab check` and `locklab explore`.
//!
//! Properties (named as in [`prop`]): `Always` no stale write, belief mutual exclusion, fencing
//! tokens increase (variants whose servers issue tokens), linearizable against the lease spec
//! (acquires, extends and releases); `Sometimes` a lock is granted, two critical sections
//! complete (so that no configuration passes vacuously).
//!
//! A variant's name means what it means in the scenario catalogue (`lease`, `lease-checked`,
//! `lease-fenced`, `redlock`, `raft`, `raft-checked`, `raft-fenced`; [`setup::Switches`]), and
//! `check` prints its parameters as the scenario file's `[[protocols]]` keys.
//!
//! stateright 0.31 has three pitfalls this crate steps around (details in `models/README.md`):
//! timers are kept per node in the state, not in stateright's actor timer sets (whose states
//! collide when only the timer's owner differs); shortest counterexamples come from
//! [`check::shortest_counterexample`], not from a full BFS (which keeps replacing the path it
//! saved); and no symmetry reduction is declared (stateright applies it only in DFS, and the
//! clients, which start at different ticks, are not interchangeable anyway).
//!
//! ```
//! use locklab_models::check::{run, Budget, Strategy};
//! use locklab_models::{cli::build_model, prop};
//!
//! // Two clients, one lease server, one client pause: the pause makes a write stale.
//! let model = build_model("lease", 2, None, Some("pause"), None, Some(9)).unwrap();
//! let outcome = run(&model, Strategy::Bfs, 1, None, Budget::NONE);
//! assert!(outcome.verdict(prop::NO_STALE_WRITE).unwrap().discovered);
//! ```

pub mod bfs;
pub mod check;
pub mod cli;
pub mod explorer;
pub mod export;
pub mod model;
pub mod setup;
pub mod spec;

pub use model::{prop, Action, Faults, LockModel, State};
pub use setup::{protocol_names, Protocol, Setup, Timing};
