//! RabbitMQ (AMQP 0-9-1): a source consuming durable queues (pipeline
//! status reports and events) and a sink publishing finding changes and
//! IAM audit summaries with publisher confirms. Both reconnect with
//! exponential backoff (capped at [`MAX_BACKOFF`]) and declare their
//! topology again on every connection.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::task::JoinHandle;

use super::{ConnectorError, Context};

mod config;
mod sink;
mod source;

pub use config::{AmqpSinkConfig, AmqpSourceConfig};

/// Longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// First wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// `app_id` of every message the sink publishes; the source skips them, so
/// a queue that is both consumed and published to does not echo.
pub const APP_ID: &str = "vigilo";

/// Start the source: validates the configuration now, connects (and
/// retries) in the background.
pub fn start_source(
    config: AmqpSourceConfig,
    ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    config.check()?;
    Ok(tokio::spawn(source::run(config, ctx)))
}

/// Start the sink: validates the configuration now, connects (and
/// retries) in the background.
pub fn start_sink(config: AmqpSinkConfig, ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    config.check()?;
    Ok(tokio::spawn(sink::run(config, ctx)))
}

/// Connect with a name the broker shows.
async fn connect(url: &str, name: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, props).await
}

/// Declare `queue` durable with `args` unless it exists already: an
/// existing queue keeps whatever arguments it was created with (declaring
/// it again with different ones would fail). A passive declare that
/// misses closes its channel, so it gets one of its own.
async fn ensure_queue(conn: &Connection, queue: &str, args: FieldTable) -> lapin::Result<()> {
    let probe = conn.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let exists = probe
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .is_ok();
    if exists {
        let _ = probe.close(200, "OK".into()).await;
        return Ok(());
    }
    let channel = conn.create_channel().await?;
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
        .await?;
    let _ = channel.close(200, "OK".into()).await;
    Ok(())
}

/// Exponential backoff between connection attempts.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(FIRST_BACKOFF)
    }

    fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }

    /// The wait before the next attempt (doubling up to [`MAX_BACKOFF`]).
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        d
    }
}

/// An error for logs and the status board: lapin's text, with anything
/// that looks like a URL's credentials removed.
fn describe(e: &lapin::Error) -> String {
    let text = e.to_string();
    match (text.find("://"), text.find('@')) {
        (Some(a), Some(b)) if a < b => format!("{}://***{}", &text[..a], &text[b..]),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..10).map(|_| b.next()).collect();
        assert_eq!(waits[0], FIRST_BACKOFF);
        assert_eq!(waits[1], FIRST_BACKOFF * 2);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
        b.reset();
        assert_eq!(b.next(), FIRST_BACKOFF);
    }
}
