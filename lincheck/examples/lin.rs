//! The `lin` command as a stand-alone program (the same code the `locklab lin`
//! subcommand runs): `cargo run --release -p locklab-lincheck --example lin -- HISTORY --model mutex --stats`.

use clap::Parser;
use locklab_lincheck::cli::{self, LinArgs};

#[derive(Parser)]
#[command(name = "lin", about = "Check a recorded history for linearizability")]
struct Args {
    #[command(flatten)]
    lin: LinArgs,
}

fn main() {
    std::process::exit(cli::run(&Args::parse().lin));
}
