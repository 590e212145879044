//! Real server processes started and stopped by locklab itself: found on the PATH (or named by a
//! flag), each on a free loopback port with its own temporary directory, stopped by PID at the end
//! of a run — and on error and on Ctrl-C, through a process-wide registry.
//!
//! Faults on a process are signals: pause = `SIGSTOP`, resume = `SIGCONT`, crash = `SIGKILL`.
//! Wall-clock faults use libfaketime (Debian's `faketime` package): the process starts with
//! `LD_PRELOAD` naming libfaketime and a `FAKETIME_TIMESTAMP_FILE` that [`FakeClock::set_offset_s`]
//! rewrites mid-run (`FAKETIME_NO_CACHE=1` makes every clock read see the file). Only the wall
//! clock is faked (`FAKETIME_DONT_FAKE_MONOTONIC=1`): a wall-clock step leaves `CLOCK_MONOTONIC`
//! alone, as an NTP step does.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::backend::LiveError;

/// PIDs of every live server process and every temporary directory of this locklab process.
static REGISTRY: Mutex<Registry> = Mutex::new(Registry { pids: Vec::new(), dirs: Vec::new() });

struct Registry {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

/// Set by the interrupt handler before it stops anything: a run that fails because its servers
/// were stopped under it is the interruption, not a failure of the live machinery.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Has Ctrl-C (or SIGTERM) arrived? Then the handler is stopping the servers and will end the
/// process with 130: callers about to exit with another code wait for it
/// ([`wait_if_interrupted`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// If interrupted, wait (bounded) for the handler to finish its cleanup and exit with 130, so
/// that a run failing under the cleanup does not exit first with its own code.
pub fn wait_if_interrupted() {
    if interrupted() {
        std::thread::sleep(Duration::from_secs(30));
    }
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kill every registered process (`SIGCONT` first, so a paused one dies too) and remove every
/// registered directory. Safe to call more than once, and from a signal-handling task.
pub fn cleanup_all() {
    let (pids, dirs) = {
        let mut r = registry();
        (std::mem::take(&mut r.pids), std::mem::take(&mut r.dirs))
    };
    for pid in pids {
        signal(pid, libc::SIGCONT);
        signal(pid, libc::SIGKILL);
        // Reap it if it is our child (ignore errors: it may be reaped already).
        unsafe {
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// On Ctrl-C (SIGINT) or SIGTERM: stop every server and remove every temporary directory, then
/// exit with 130. Installed once per process (later calls do nothing), on a thread of its own so
/// that it works between runs too. From then on SIGINT no longer kills the process by default:
/// this handler is what ends it.
pub fn install_interrupt_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("locklab-interrupt".into()).spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
                let _ = ready_tx.send(());
                async fn wait(s: Option<&mut tokio::signal::unix::Signal>) {
                    match s {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
                tokio::select! {
                    _ = wait(int.as_mut()) => {}
                    _ = wait(term.as_mut()) => {}
                }
                INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                eprintln!("locklab: interrupted; stopping servers and removing temporary directories");
                cleanup_all();
                std::process::exit(130);
            });
        });
        if spawned.is_ok() {
            // Return once the handlers are registered: a signal right after this call is caught.
            let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        }
    });
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) with a PID this process started; no memory is shared.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// A temporary directory of this run (`$TMPDIR/locklab-live-…`), registered for cleanup and
/// removed on drop.
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> Result<Self, LiveError> {
        let dir = tempfile::Builder::new()
            .prefix("locklab-live-")
            .tempdir()
            .map_err(|e| LiveError(format!("cannot create a temporary directory: {e}")))?;
        let path = dir.path().to_path_buf();
        registry().dirs.push(path.clone());
        Ok(Scratch { dir: Some(dir), path })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// A subdirectory, created.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, LiveError> {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).map_err(|e| LiveError(format!("cannot create {}: {e}", p.display())))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        registry().dirs.retain(|d| d != &self.path);
    }
}

/// The prefix of every temporary directory locklab's live tier creates (for leak checks).
pub const SCRATCH_PREFIX: &str = "locklab-live-";

/// Find `name` on the PATH, or use `explicit` when given (it must exist).
pub fn find_binary(name: &str, explicit: Option<&Path>) -> Result<PathBuf, LiveError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(LiveError(format!("{}: no such file (named for {name})", p.display())))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(LiveError(format!(
        "`{name}` is not on the PATH; install the live tier's packages (`apt-get install redis-server etcd-server faketime`) or name the binary with a flag"
    )))
}

/// A free TCP port on 127.0.0.1 (bound, then released: the caller binds it at once).
pub fn free_port() -> Result<u16, LiveError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| LiveError(format!("cannot bind a loopback port: {e}")))?;
    Ok(l.local_addr()?.port())
}

/// libfaketime's shared object and glibc, preloaded in that order (see the module docs).
fn faketime_preload() -> Result<String, LiveError> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    let lib = candidates.iter().find(|p| Path::new(p).is_file()).ok_or_else(|| {
        LiveError(
            "libfaketime is not installed (Debian package `faketime`); clock faults on real servers need it".into(),
        )
    })?;
    let libc_candidates = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/libc.so.6"];
    let libc = libc_candidates.iter().find(|p| Path::new(p).is_file()).copied().unwrap_or("libc.so.6");
    Ok(format!("{lib} {libc}"))
}

/// A process's fake wall clock: an offset from the real one, changeable while it runs.
#[derive(Clone, Debug)]
pub struct FakeClock {
    file: PathBuf,
    offset_s: f64,
}

impl FakeClock {
    /// A clock file in `dir`, starting at `offset_s` seconds from real time.
    pub fn new(dir: &Path, offset_s: f64) -> Result<Self, LiveError> {
        let c = FakeClock { file: dir.join("faketime.rc"), offset_s };
        c.write()?;
        Ok(c)
    }
    fn write(&self) -> Result<(), LiveError> {
        // libfaketime's relative format: "+N.Ns" / "-N.Ns".
        let text = format!("{:+.3}s\n", self.offset_s);
        std::fs::write(&self.file, text).map_err(|e| LiveError(format!("{}: {e}", self.file.display())))
    }
    /// Step the clock by `by_s` seconds (takes effect at the process's next clock read).
    pub fn step(&mut self, by_s: f64) -> Result<(), LiveError> {
        self.offset_s += by_s;
        self.write()
    }
    pub fn set_offset_s(&mut self, offset_s: f64) -> Result<(), LiveError> {
        self.offset_s = offset_s;
        self.write()
    }
    pub fn offset_s(&self) -> f64 {
        self.offset_s
    }
    /// The environment that makes a process read this clock.
    pub fn env(&self) -> Result<Vec<(String, String)>, LiveError> {
        Ok(vec![
            ("LD_PRELOAD".into(), faketime_preload()?),
            ("FAKETIME_TIMESTAMP_FILE".into(), self.file.display().to_string()),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ])
    }
}

/// How to start one server process (again, after a crash).
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    pub bin: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory (the server's data directory lives under it).
    pub dir: PathBuf,
    /// stdout and stderr go here (appended across restarts).
    pub log: PathBuf,
}

/// One running (or stopped, or crashed) server process.
pub struct ServerProcess {
    pub spec: ProcessSpec,
    child: Option<Child>,
}

impl ServerProcess {
    /// Start it.
    pub fn spawn(spec: ProcessSpec) -> Result<Self, LiveError> {
        let mut p = ServerProcess { spec, child: None };
        p.start()?;
        Ok(p)
    }

    fn start(&mut self) -> Result<(), LiveError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(|e| LiveError(format!("{}: {e}", self.spec.log.display())))?;
        let err = log.try_clone()?;
        let mut cmd = Command::new(&self.spec.bin);
        cmd.args(&self.spec.args).current_dir(&self.spec.dir).stdin(Stdio::null()).stdout(log).stderr(err);
        for (k, v) in &self.spec.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| LiveError(format!("cannot start {}: {e}", self.spec.bin.display())))?;
        registry().pids.push(child.id());
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The last lines of the process's log (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.spec.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// Has it exited (crashed, or refused to start)?
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// `SIGSTOP`: the process stops running; its sockets stay open and fill up.
    pub fn pause(&self) -> Result<(), LiveError> {
        self.signal(libc::SIGSTOP, "SIGSTOP")
    }

    /// `SIGCONT`.
    pub fn resume(&self) -> Result<(), LiveError> {
        self.signal(libc::SIGCONT, "SIGCONT")
    }

    fn signal(&self, sig: libc::c_int, name: &str) -> Result<(), LiveError> {
        let pid = self.pid().ok_or_else(|| LiveError(format!("{name}: the process is not running")))?;
        if signal(pid, sig) {
            Ok(())
        } else {
            Err(LiveError(format!("{name} to pid {pid}: {}", std::io::Error::last_os_error())))
        }
    }

    /// `SIGKILL`, and reap it: whatever it had not written to disk is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            signal(pid, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
            registry().pids.retain(|&p| p != pid);
        }
    }

    /// Start it again with the same arguments, environment and directory (after [`kill`](Self::kill)).
    pub fn restart(&mut self) -> Result<(), LiveError> {
        self.kill();
        self.start()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wait until `ready` answers true, polling every 20 ms, for at most `timeout`. Fails early,
/// with the log's tail, when the process exits.
pub async fn wait_ready<F, Fut>(proc_: &mut ServerProcess, timeout: Duration, mut ready: F) -> Result<(), LiveError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if ready().await {
            return Ok(());
        }
        if proc_.exited() {
            return Err(LiveError(format!("{} exited at start:\n{}", proc_.spec.bin.display(), proc_.log_tail())));
        }
        if start.elapsed() > timeout {
            return Err(LiveError(format!(
                "{} did not answer within {} ms:\n{}",
                proc_.spec.bin.display(),
                timeout.as_millis(),
                proc_.log_tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PIDs of live server processes this process registered (for leak tests).
pub fn registered_pids() -> Vec<u32> {
    registry().pids.clone()
}
