//! Writing results to stdout the way CI needs it.
//!
//! * A reader that goes away (`locklab check lease | head -1`) is not an error of ours: the first
//!   broken pipe closes the output quietly, the work goes on, and the command still exits with its
//!   verdict's code — so `${PIPESTATUS[0]}` after a pipe is the verdict, not 0 and not a panic.
//! * Any other write error (`> /dev/full`, a closed descriptor) is reported once, further output
//!   is dropped, and the command exits [`exit::OUTPUT`](crate::exit::OUTPUT) whatever the verdict:
//!   a result nobody could read must not look like a pass.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OPEN);

/// Stdout as a [`Write`] that never fails: broken pipes and other errors are recorded instead.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STATE.load(Ordering::Relaxed) == OPEN {
            let mut out = io::stdout().lock();
            if let Err(e) = out.write_all(buf).and_then(|()| out.flush()) {
                record(&e);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if STATE.load(Ordering::Relaxed) == OPEN {
            if let Err(e) = io::stdout().lock().flush() {
                record(&e);
            }
        }
        Ok(())
    }
}

fn record(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        STATE.store(CLOSED, Ordering::Relaxed);
    } else if STATE.swap(FAILED, Ordering::Relaxed) != FAILED {
        eprintln!("locklab: cannot write to stdout: {e}");
    }
}

/// Write `text` to stdout (see the module docs for what happens when that fails).
pub fn out(text: &str) {
    let _ = Stdout.write_all(text.as_bytes());
}

/// The exit code to use: the verdict's, unless writing the output failed (not a broken pipe).
pub fn exit_code(verdict: i32) -> i32 {
    if STATE.load(Ordering::Relaxed) == FAILED {
        crate::exit::OUTPUT
    } else {
        verdict
    }
}
