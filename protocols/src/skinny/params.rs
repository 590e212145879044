//! The `skinny` kind's scenario keys, their defaults and their validation, and how a variant
//! builds its instances and client libraries.

use std::any::Any;

use serde::Deserialize;

use super::{SkinnyClientParams, SkinnyInstance, SkinnyLock, SkinnyParams};
use crate::node::Persistence;
use crate::node::{LockId, NodeId};
use crate::params::{ms_range, positive, read, MsSpec, ParamError, Table};
use crate::registry::{LockLibrary, ModelTiming, ModelVariant, ProtocolBuild, Server};

/// The keys of `skinny`, in the order error messages list them.
pub const SKINNY_KEYS: &[&str] =
    &["acquire_timeout_ms", "acquire_retries", "retry_backoff_ms", "server_timeout_ms", "skinny_fixed"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// The client's RPC timeout (skinny's `quorum.yml`: 5 s).
    acquire_timeout_ms: Option<u64>,
    acquire_retries: Option<u32>,
    retry_backoff_ms: Option<MsSpec>,
    /// An instance's RPC timeout to its peers (skinny's example config: 500 ms).
    server_timeout_ms: Option<u64>,
    /// The proposer adopts its own commit only once a majority committed it.
    skinny_fixed: Option<bool>,
}

/// A compiled `skinny` variant: the instances' parameters (peers and increments filled per world)
/// and the library's.
#[derive(Clone, Debug)]
pub struct SkinnyVariant {
    pub instance: SkinnyParams,
    pub client: SkinnyClientParams,
}

/// The `skinny` kind's variant from its `[[protocols]]` keys.
pub fn compile(table: &Table, _servers: u32) -> Result<Box<dyn ProtocolBuild>, ParamError> {
    let k: Keys = read(table)?;
    let timeout_ms = positive("server_timeout_ms", k.server_timeout_ms.unwrap_or(500))?;
    let client_timeout_ms = positive("acquire_timeout_ms", k.acquire_timeout_ms.unwrap_or(5000))?;
    let retry_backoff = ms_range("retry_backoff_ms", k.retry_backoff_ms, (20, 100))?;
    Ok(Box::new(SkinnyVariant {
        instance: SkinnyParams { peers: Vec::new(), increment: 0, timeout_ms, fixed: k.skinny_fixed.unwrap_or(false) },
        client: SkinnyClientParams {
            timeout_ms: client_timeout_ms,
            acquire_retries: k.acquire_retries.unwrap_or(1000),
            retry_backoff,
        },
    }))
}

impl ProtocolBuild for SkinnyVariant {
    /// Instance i calls the others and increments by i + 1 (unique, as skinny's config asks; the
    /// sums still collide).
    fn server(&self, servers: &[NodeId], index: usize) -> Server {
        let mut instance = self.instance.clone();
        instance.peers = servers.iter().copied().filter(|&s| s != servers[index]).collect();
        instance.increment = index as u64 + 1;
        Server::SkinnyInstance(Box::new(SkinnyInstance::new(instance)))
    }
    /// Client i calls instance i (mod n) first.
    fn library(&self, servers: &[NodeId], client_index: usize, lock: LockId) -> LockLibrary {
        LockLibrary::Skinny(SkinnyLock::new(servers.to_vec(), client_index, lock, self.client.clone()))
    }
    /// No lease: a holder holds until it releases (the linearizability spec is a mutex).
    fn ttl_ms(&self) -> Option<u64> {
        None
    }
    fn tokens(&self) -> bool {
        false
    }
    fn fencing(&self) -> bool {
        false
    }
    fn check_validity_before_write(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The variants `locklab check` model-checks: `skinny` as written, and `skinny-fixed`
/// (`skinny_fixed = true`: the proposer adopts its commit only once a majority committed it).
///
/// # The standard configuration, and time in the model
///
/// 3 instances (increments 1, 2, 3), 2 clients that both start at tick 0, client i calling
/// instance i: the dueling proposers of `scenarios/skinny-dueling-proposers.toml`, with no fault
/// at all. A tick is 1 s; every duration skinny takes as a parameter is whole ticks (below).
///
/// One duration is not a parameter: between Phase-1 attempts an instance sleeps
/// `retries × 2 ms + rand.Int63n(1000) µs` (`lock.go`; `SkinnyInstance::end_promise`), at most
/// 6.999 ms, so always below one tick. The model keeps it as skinny draws it (the instance is the
/// simulator's, and draws through the model's entropy, a hash of node and draw counter); the
/// model's clocks read whole ticks only, so the sleep's timer is due at the next tick, whatever the
/// draw. That is the model's rounding of a sub-tick delay up to the next tick boundary, and it
/// loses no behaviour for the properties checked: in the real system nothing else happens
/// within those few milliseconds except what the sleeping instance itself does (every other
/// timer is a whole number of ticks, and the model's links have zero latency), and the model
/// runs the woken instance at the next tick *in every order* with everything else due then —
/// including first, which is where the real one runs. The jitter exists to break the symmetry of
/// two instances retrying at once; the model explores both orders of the two retries, so it
/// covers every draw. (It also allows orders the real timing excludes — another node's tick-k+1
/// event before the retry — so a counterexample through a retry may not replay in the simulator;
/// `check` says whether it does.)
///
/// | parameter | ticks | why |
/// |---|---|---|
/// | `server_timeout_ms` (an instance's phase RPC timeout, skinny: 500 ms) | 1 | an instance busy in its own call answers a peer's phase only once done: the caller waits one tick |
/// | `acquire_timeout_ms` (the client's call timeout, skinny: 5 s) | 4 | above a call's worst case without faults (Phase 1 and 2 time out once each: 2 ticks, plus the backoff rounded to a tick) |
/// | `retry_backoff_ms` (the client's pause before another `Acquire`) | 1 | fixed: it draws nothing |
/// | `acquire_retries` | 4 | the refused client asks again until the holder has released |
/// | client starts | both at tick 0 | the duel needs both calls at once |
/// | horizon | 9 | both critical sections complete within it (the `Sometimes`) |
///
/// skinny has no lease (`ttl_ms()` is `None`), so the model's linearizability spec is a mutex (a
/// holder holds until it releases), as the simulator's checker.
pub const MODELS: &[ModelVariant] = &[skinny_model("skinny", false), skinny_model("skinny-fixed", true)];

/// Why the standard fault budget is none (printed by `check`).
const SKINNY_NOTE: &str = "the dueling proposers need no fault; with --faults crash (an instance forgets: nothing is \
                           persisted) the space does not exhaust within 60 s and 2 GB (models/README.md, \"skinny\"): \
                           check it with --timeout (a bounded verdict); a client that crashes holding the lock is not a \
                           model fault (scenarios/skinny-holder-crash.toml shows it)";

const fn skinny_model(name: &'static str, fixed: bool) -> ModelVariant {
    ModelVariant {
        name,
        tokens: false,
        fencing: false,
        check_validity_before_write: false,
        default_servers: 3,
        default_persistence: Persistence::None,
        timing: ModelTiming { client_stagger_ticks: 0, acquire_retries: 4, ..ModelTiming::DEFAULT },
        standard_faults: "none",
        note: SKINNY_NOTE,
        params: if fixed { skinny_fixed_model_params } else { skinny_model_params },
    }
}

fn skinny_model_params(_: &ModelVariant, t: &ModelTiming, _: Persistence) -> Vec<(&'static str, String)> {
    skinny_params(t, false)
}

fn skinny_fixed_model_params(_: &ModelVariant, t: &ModelTiming, _: Persistence) -> Vec<(&'static str, String)> {
    skinny_params(t, true)
}

/// Every key explicit; skinny persists nothing, so the persistence policy has no key.
fn skinny_params(t: &ModelTiming, fixed: bool) -> Vec<(&'static str, String)> {
    vec![
        ("acquire_timeout_ms", t.ms(4)),
        ("acquire_retries", t.acquire_retries.to_string()),
        ("retry_backoff_ms", t.ms(1)),
        ("server_timeout_ms", t.ms(1)),
        ("skinny_fixed", fixed.to_string()),
    ]
}
