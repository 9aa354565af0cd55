//! `l2tpd-load`: see the `loadgen` library for the modes.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::{clock, flood};
use nix::sys::signal::{SigSet, Signal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Flood(args) => {
            let cfg = match args.into_config(clock::os_seed) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            let stop = match stop_on_signals() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("l2tpd-load: cannot watch SIGINT/SIGTERM: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match flood::run(&cfg, &stop) {
                Ok(summary) => {
                    if let Some(note) = &summary.note {
                        eprintln!("l2tpd-load: {note}");
                    }
                    println!("{}", summary.to_json_line());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &loadgen::Error) -> ExitCode {
    eprintln!("l2tpd-load: {e}");
    ExitCode::FAILURE
}

/// A flag set when SIGINT or SIGTERM arrives: both are blocked in every thread and taken by a
/// watcher thread with `sigwait`, so the run ends its loop and still prints its summary.
fn stop_on_signals() -> nix::Result<Arc<AtomicBool>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        if set.wait().is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    Ok(stop)
}
