//! The tracing subscriber: one JSON object per line on stdout, or pretty lines for humans.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

/// Installs the global subscriber. `RUST_LOG` (read by the settings) overrides `log.level`.
pub fn init(settings: &Settings) {
    let directives = settings.rust_log.as_deref().unwrap_or(&settings.log.level);
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // `try_init` fails only when a subscriber is already installed (tests): keep that one.
    let _ = match settings.log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
