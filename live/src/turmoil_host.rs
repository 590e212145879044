//! The live host under turmoil: the same node tasks, socket reader and fault driver as on tokio
//! ([`crate::host`]), with turmoil's UDP sockets and simulated time. One turmoil host per node
//! (named as in the scenario: `s1`, `c1`, `r1`), plus one for the fault driver. turmoil's own
//! latency is set to zero: the host's send path applies the scenario's network itself, from the
//! same seeded sub-stream as the simulator. turmoil has no process pause and no per-host clock;
//! the host implements both (see `host`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::sync::OnceCell;

use locklab_protocols::NodeId;
use locklab_sim::world::{stream, sub_seed, WorldSpec};

use crate::backend::{BoxFut, TimeMap};
use crate::host::{prepare, LiveOutcome, Socket, TimeSource};

/// The UDP port every node binds inside its turmoil host.
const PORT: u16 = 9000;

/// turmoil's steps: 1 ms of simulated time each.
pub const TICK: Duration = Duration::from_millis(1);

/// A turmoil UDP socket, bound on first use (inside its host).
struct TurmoilSocket(OnceCell<turmoil::net::UdpSocket>);

impl TurmoilSocket {
    async fn get(&self) -> std::io::Result<&turmoil::net::UdpSocket> {
        self.0.get_or_try_init(|| turmoil::net::UdpSocket::bind((IpAddr::from([0, 0, 0, 0]), PORT))).await
    }
}

impl Socket for TurmoilSocket {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFut<'a, std::io::Result<()>> {
        Box::pin(async move { self.get().await?.send_to(buf, to).await.map(|_| ()) })
    }
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFut<'a, std::io::Result<(usize, SocketAddr)>> {
        Box::pin(async move { self.get().await?.recv_from(buf).await })
    }
}

/// Run `spec` under turmoil, seeded from the spec's seed (its own sub-stream). Only locklab
/// nodes: real servers never run under turmoil.
pub fn run_turmoil(spec: WorldSpec) -> Result<LiveOutcome, String> {
    let seed = spec.seed;
    let end = Duration::from_nanos(spec.duration_ns);
    let names: Vec<String> = spec.nodes.iter().map(|(n, _, _)| n.clone()).collect();
    let dir = tempfile::Builder::new().prefix(crate::procs::SCRATCH_PREFIX).tempdir().map_err(|e| e.to_string())?;
    let mut sim = turmoil::Builder::new()
        .simulation_duration(end + Duration::from_secs(5))
        .tick_duration(TICK)
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .build_with_rng(Box::new(ChaCha8Rng::seed_from_u64(sub_seed(seed, stream::NODE_BASE - 1))));
    let now = Box::new(|| turmoil::sim_elapsed().unwrap_or_default().as_nanos() as u64);
    let mut socket_for = |_: NodeId| -> Arc<dyn Socket> { Arc::new(TurmoilSocket(OnceCell::new())) };
    let clock = TimeSource { now, scale: 1.0, map: TimeMap::new(1.0) };
    let prepared = prepare(spec, &[], None, clock, dir.path(), &mut socket_for);
    let (sh, futs, driver) = prepared.into_futures();
    for (id, fut) in futs {
        sim.client(names[id].as_str(), async move {
            fut.await;
            Ok(())
        });
    }
    sim.client("driver", async move {
        driver.await;
        Ok(())
    });
    let addrs: Vec<SocketAddr> = names.iter().map(|n| SocketAddr::new(sim.lookup(n.as_str()), PORT)).collect();
    let _ = sh.addrs.set(addrs);
    sim.run().map_err(|e| e.to_string())?;
    Ok(sh.outcome())
}
