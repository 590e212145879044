//! Writes a generated (linearizable) history in locklab's JSON format, e.g. to compare
//! checkers on the same input.
//!
//! ```text
//! cargo run --release -p locklab-lincheck --example gen_history -- mutex 100000 6 0.01 42 out.json
//! cargo run --release -p locklab-lincheck --example gen_history -- cas-register 1000 5 0.1 1 out.json
//! ```
//! Arguments: model (mutex, lease, fencing, cas-register, kv, kv-bad: 10 keys, appends
//! and gets, kv-bad with a stale read at 90%), operations, clients,
//! crashed-operation probability, seed, output file. Lease and fencing use a 3 ms TTL.

use locklab_lincheck::format::{self, History, Model};
use locklab_lincheck::gen::{self, KvGen, LockGen, RegisterGen};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        eprintln!("usage: gen_history MODEL OPS CLIENTS INFO_PROB SEED OUT.json");
        std::process::exit(2);
    }
    let ops: usize = args[1].parse().expect("OPS");
    let clients: usize = args[2].parse().expect("CLIENTS");
    let info_prob: f64 = args[3].parse().expect("INFO_PROB");
    let seed: u64 = args[4].parse().expect("SEED");
    let ttl_ns = 3_000_000;
    let lock = |ttl: Option<u64>, fencing: bool| {
        History::Lock(gen::lock_history(&LockGen {
            seed,
            ops,
            clients,
            ttl_ns: ttl,
            fencing,
            info_prob,
            ..LockGen::default()
        }))
    };
    let (model, history) = match args[0].as_str() {
        "mutex" => (Model::Mutex, lock(None, false)),
        "lease" => (Model::Lease { ttl_ns }, lock(Some(ttl_ns), false)),
        "fencing" => (Model::Fencing { ttl_ns: Some(ttl_ns) }, lock(Some(ttl_ns), true)),
        "cas-register" => (
            Model::CasRegister,
            History::Register(gen::register_history(&RegisterGen {
                seed,
                ops,
                clients,
                info_prob,
                ..RegisterGen::default()
            })),
        ),
        "kv" | "kv-bad" => (
            Model::Kv,
            History::Kv(gen::kv_history(&KvGen {
                seed,
                ops,
                clients,
                info_prob,
                stale_read_at: (args[0] == "kv-bad").then_some(0.9),
                ..KvGen::default()
            })),
        ),
        other => {
            eprintln!("unknown model {other}");
            std::process::exit(2);
        }
    };
    std::fs::write(&args[5], format::to_json(&model, &history)).expect("write output");
}
