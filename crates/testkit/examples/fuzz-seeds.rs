//! Writes the seed corpora of the fuzz targets (see `testkit::fuzz::seeds`):
//!
//! ```text
//! cargo run -p testkit --example fuzz-seeds -- fuzz/corpus
//! ```
//!
//! Every seed goes to `<dir>/<target>/<name>`; files a fuzzer added there are left alone. The
//! output is the same on every run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds <corpus directory>");
        return ExitCode::from(2);
    };
    // Any instant will do: the worlds run on a virtual clock from it.
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let corpus = match testkit::fuzz::seeds::generate(base) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fuzz-seeds: {e}");
            return ExitCode::FAILURE;
        }
    };
    match corpus.write(&dir) {
        Ok(n) => {
            for (target, seeds) in corpus.iter() {
                let bytes: usize = seeds.values().map(Vec::len).sum();
                println!("{target:20} {:5} seeds {bytes:9} bytes", seeds.len());
            }
            println!("{n} seeds written under {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fuzz-seeds: writing {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
