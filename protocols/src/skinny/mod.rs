//! skinny: the teaching Paxos lock service from the Hacker News thread (Dan Lüdtke,
//! `github.com/danrl/skinny`, commit b9a379a, 2020-05-23), modelled from its code:
//! `skinny/consensus.go` (the two phases), `skinny/lock.go` (the lock API),
//! `proto/consensus/consensus.proto`, `proto/lock/lock.proto` and its README.
//!
//! # The algorithm
//!
//! A quorum of instances replicates **one register** `{id, holder}` (one lock per quorum; the
//! holder is a free-form string, `""` when free). Every instance is acceptor *and* proposer, and
//! clients call whichever instance they are configured with.
//!
//! * **Phase 1** (`Promise(ID)` → `{Promised, ID, Holder}`). The acceptor promises iff
//!   `req.ID > promised` (and then `promised = req.ID`), always attaching its committed register.
//!   The proposer first does `promised += increment` — `increment` is a per-instance constant that
//!   "must be unique per instance", so ballots are *running sums* of it — asks every peer, counts
//!   itself as the first yea, stops once a majority said yea or nay (the rest are cancelled),
//!   learns the register with the highest ID, and if that ID exceeds its `promised`, jumps to it.
//! * **Phase 2** (`Commit(ID, Holder)` → `{Committed = (req.ID == id)}`). The acceptor accepts iff
//!   `req.ID >= promised`. The proposer sets its own register to `(ID, Holder)` *before* counting
//!   answers, counts itself as the first yea, and waits for every peer or the timeout.
//! * `isMajority(n)`: `n > (len(peers)+1)/2`, integer division, `peers` excluding the instance.
//! * **Acquire(holder)**: propose; if a majority promised, commit `(promised, requester)` when the
//!   register is free, else commit `(promised, learned holder)`; if not, retry up to 3 times after
//!   `retries × 2 ms` plus a jitter below 1 ms. The commit's outcome is ignored: the reply is
//!   `Acquired = (local holder == requester)`.
//! * **Release()**: propose; commit `(promised, "")`; `Released = (local holder == "")`. The request
//!   is empty: anyone may release anyone's lock.
//!
//! Every handler holds the instance's mutex for its whole duration (`in.mu.Lock()` in `Acquire`,
//! `Release`, `Promise`, `Commit`), so an instance busy proposing does not answer its peers' phases
//! until it is done (or sleeping between retries); their calls time out and count as nay, and the
//! blocked handler still runs later. Modelled: requests wait in [`SkinnyInstance::waiting`].
//!
//! There is no lease or TTL, no session, no fencing token (the Paxos ID could be one but is never
//! returned), and nothing is persisted: "Locks are always advisory … the holder is responsible for
//! releasing" (README).
//!
//! # Defects, as they show here
//!
//! * **Colliding ballots.** IDs are running sums of per-instance increments, so two instances
//!   reach the same ID (instance increments 1 and 2: `0+1+1 == 0+2`). Two proposers with the same
//!   ballot can both be promised by different acceptors, and a commit with an equal ID is accepted
//!   (`>=`). Unit test `ballots_collide`.
//! * **The proposer adopts its own commit without a majority** (`in.id = id; in.holder = holder`
//!   before counting; the result is ignored by `Acquire`): dueling proposers both answer
//!   `Acquired = true` (`scenarios/skinny-dueling-proposers.toml`: mutual exclusion violated).
//!   Switch: `skinny_fixed = true` adopts the register only when a majority committed it.
//! * **No lease**: a holder that crashes holds the lock forever (`scenarios/skinny-holder-crash.toml`:
//!   liveness violated); a crashed instance forgets the register.
//!
//! # Files
//!
//! * [`instance`]: the instance ([`SkinnyInstance`]): acceptor, proposer, lock API;
//! * [`client`]: the client library ([`SkinnyLock`]): calls one instance, the next after a timeout;
//! * [`msg`]: the messages ([`SkinnyMsg`]).

pub mod client;
pub mod instance;
pub mod msg;
pub mod params;
#[cfg(test)]
mod tests;

pub use client::*;
pub use instance::*;
pub use msg::*;
pub use params::*;
