use locklab_live::run::run_turmoil;

#[test]
fn smoke() {
    for f in ["../scenarios/01-gc-pause.toml", "../scenarios/raft-keepalive-race.toml"] {
    let compiled = locklab_sim::load_compiled(std::path::Path::new(f)).unwrap();
    for (i, v) in compiled.variants.iter().enumerate() {
        let t0 = std::time::Instant::now();
        let (o, r) = run_turmoil(&compiled, i, 1).unwrap();
        let tt = t0.elapsed();
        eprintln!("{} {} turmoil {:?} msgs {} hist {} dur {}", f, v.name, tt, o.messages_delivered, o.history.len(), compiled.scenario.scenario.duration_ms);
        let _ = r;
    }
    }
}
