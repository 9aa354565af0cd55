//! The daemon's log output: plain text for a terminal or a file, a journald-friendly form, or
//! JSON lines (`run --log-format`).
//!
//! Under systemd, standard error is a stream to journald, which stamps every line with its own
//! time and shows colours as escape codes. systemd passes `JOURNAL_STREAM=DEVICE:INODE` naming
//! that stream (systemd.exec(5), "Environment variables in spawned processes"); the daemon
//! compares it with `fstat(2)` of its standard error, so a `JOURNAL_STREAM` inherited by a
//! process whose output was redirected elsewhere is not believed. On the journal stream each
//! line has no time stamp, no colours, and starts with its syslog priority as `<N>` (the
//! "SyslogLevelPrefix=" convention of systemd.exec(5), priorities from RFC 5424 §6.2.1), so
//! `journalctl -p warning` filters by level.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// What `--log-format` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `journald` when standard error is the systemd journal (JOURNAL_STREAM names it),
    /// otherwise `text`.
    #[default]
    Auto,
    /// Text lines with time stamps (colours only on a terminal).
    Text,
    /// Text lines without time stamps (the journal adds its own) or colours, each with a
    /// `<N>` syslog priority prefix (so `journalctl -p warning` filters by level).
    Journald,
    /// One JSON object per line.
    Json,
}

/// The output chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Text; `ansi`: colours (only on a terminal).
    Text { ansi: bool },
    /// Text for journald: no time, no colours, priority prefix.
    Journald,
    /// JSON lines.
    Json,
}

/// The device and inode numbers of a file, as `JOURNAL_STREAM` names them.
pub(crate) type FileId = (u64, u64);

/// Parses `JOURNAL_STREAM` (`DEVICE:INODE`, decimal).
pub(crate) fn parse_journal_stream(value: &str) -> Option<FileId> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Chooses the output from what was asked, `JOURNAL_STREAM`, the identity of standard error
/// and whether it is a terminal.
pub(crate) fn choose(
    requested: LogFormat,
    journal_stream: Option<&str>,
    stderr_id: Option<FileId>,
    stderr_is_terminal: bool,
) -> Style {
    match requested {
        LogFormat::Journald => Style::Journald,
        LogFormat::Json => Style::Json,
        LogFormat::Text => Style::Text {
            ansi: stderr_is_terminal,
        },
        LogFormat::Auto => {
            let on_journal = journal_stream
                .and_then(parse_journal_stream)
                .is_some_and(|id| Some(id) == stderr_id);
            if on_journal {
                Style::Journald
            } else {
                Style::Text {
                    ansi: stderr_is_terminal,
                }
            }
        }
    }
}

/// Standard error's device and inode numbers.
fn stderr_id() -> Option<FileId> {
    let st = nix::sys::stat::fstat(2).ok()?;
    #[allow(
        clippy::useless_conversion,
        reason = "the field types differ between targets"
    )]
    Some((u64::from(st.st_dev), u64::from(st.st_ino)))
}

/// Installs the global subscriber for `requested`, filtered by `filter`.
pub(crate) fn init(requested: LogFormat, filter: tracing_subscriber::EnvFilter) {
    let style = choose(
        requested,
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_id(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match style {
        Style::Text { ansi } => builder.with_ansi(ansi).try_init(),
        Style::Journald => builder
            .with_ansi(false)
            .event_format(Journald(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .try_init(),
        Style::Json => builder.with_ansi(false).json().try_init(),
    };
}

/// The syslog priority of a level (RFC 5424 §6.2.1: 3 error, 4 warning, 6 informational,
/// 7 debug).
pub(crate) fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Prefixes each event of the inner format with `<N>`, its syslog priority.
struct Journald<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journald<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn journal_stream_values() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
        assert_eq!(parse_journal_stream(""), None);
    }

    #[test]
    fn auto_believes_journal_stream_only_when_it_is_our_stderr() {
        let ours = Some((8, 12345));
        assert_eq!(
            choose(LogFormat::Auto, Some("8:12345"), ours, false),
            Style::Journald
        );
        // Inherited by a process whose stderr went elsewhere (a file, a terminal).
        assert_eq!(
            choose(LogFormat::Auto, Some("8:999"), ours, true),
            Style::Text { ansi: true }
        );
        assert_eq!(
            choose(LogFormat::Auto, Some("garbage"), ours, false),
            Style::Text { ansi: false }
        );
        assert_eq!(
            choose(LogFormat::Auto, None, ours, true),
            Style::Text { ansi: true }
        );
        assert_eq!(
            choose(LogFormat::Auto, Some("8:12345"), None, false),
            Style::Text { ansi: false }
        );
    }

    #[test]
    fn explicit_choices_win() {
        let journal = Some("8:12345");
        let ours = Some((8, 12345));
        assert_eq!(
            choose(LogFormat::Journald, None, None, true),
            Style::Journald
        );
        assert_eq!(choose(LogFormat::Json, journal, ours, true), Style::Json);
        assert_eq!(
            choose(LogFormat::Text, journal, ours, false),
            Style::Text { ansi: false },
            "text on the journal: time stamps, still no colours off a terminal"
        );
    }

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journald_lines_have_a_priority_and_no_time_or_colour() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(Level::DEBUG)
            .event_format(Journald(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(user = "alice", "login failed");
            tracing::warn!("careful");
            tracing::info!("started");
            tracing::debug!("detail");
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].starts_with("<3>"), "{out}");
        assert!(lines[0].contains("login failed") && lines[0].contains("user=\"alice\""));
        assert!(lines[1].starts_with("<4>"), "{out}");
        assert!(lines[2].starts_with("<6>"), "{out}");
        assert!(lines[3].starts_with("<7>"), "{out}");
        assert!(!out.contains('\x1b'), "no ANSI escapes: {out:?}");
        // No time stamp: the level follows the priority directly.
        assert!(
            lines[2].starts_with("<6> INFO") || lines[2].starts_with("<6>INFO"),
            "{out}"
        );
    }
}
