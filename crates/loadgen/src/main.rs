//! `l2tpd-load`: see the `loadgen` library for the modes.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::report::SessionSummary;
use loadgen::session::{connect, hold, throughput};
use loadgen::{clock, flood};
use nix::sys::signal::{SigSet, Signal};

/// The exit status of a session run that completed but did not meet its correctness
/// conditions (a client failed or dropped, a datagram was corrupted, nothing was delivered).
const NOT_OK: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let session = |run: &dyn Fn(&AtomicBool) -> Result<SessionSummary, loadgen::Error>| {
        let stop = match stop_on_signals() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("l2tpd-load: cannot watch SIGINT/SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
        match run(&stop) {
            Ok(summary) => {
                for note in &summary.notes {
                    eprintln!("l2tpd-load: {note}");
                }
                println!("{}", summary.to_json_line());
                if summary.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(NOT_OK)
                }
            }
            Err(e) => fail(&e),
        }
    };
    match cli.command {
        Command::Connect(args) => match args.session.into_config(clock::os_seed) {
            Ok(cfg) => session(&|stop| connect::run(&cfg, stop)),
            Err(e) => fail(&e),
        },
        Command::Hold(args) => {
            let d = args.duration;
            match args.session.into_config(clock::os_seed) {
                Ok(cfg) => session(&|stop| hold::run(&cfg, d, stop)),
                Err(e) => fail(&e),
            }
        }
        Command::Throughput(args) => {
            let tp = args.throughput_config();
            match args.session.into_config(clock::os_seed) {
                Ok(cfg) => session(&|stop| throughput::run(&cfg, &tp, stop)),
                Err(e) => fail(&e),
            }
        }
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
