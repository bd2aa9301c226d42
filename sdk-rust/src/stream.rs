//! [`Weft::stream_run`]: a run's events as a `Stream` that survives a
//! dropped connection. It remembers the last sequence it handed out and,
//! when the transport fails, asks again from there: no gap, no duplicate.

use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use tonic::{Code, Streaming};

use crate::{Error, Weft, pb};

/// Reconnections tried in a row before the error is handed to the caller.
const MAX_RECONNECTS: u32 = 5;

struct Follow {
    weft: Weft,
    run_id: String,
    after: u64,
    open: Option<Streaming<pb::StreamRunEventsResponse>>,
    reconnects: u32,
    done: bool,
}

/// Errors worth reconnecting for: the connection, not the request.
fn is_transient(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown)
}

async fn next(mut follow: Follow) -> Option<(Result<pb::RunEvent, Error>, Follow)> {
    loop {
        if follow.done {
            return None;
        }
        let failure = match follow.open.as_mut() {
            None => {
                let request =
                    pb::StreamRunEventsRequest { run_id: follow.run_id.clone(), after_sequence: follow.after };
                match follow.weft.runs().stream_run_events(request).await {
                    Ok(response) => {
                        follow.open = Some(response.into_inner());
                        continue;
                    }
                    Err(status) => status,
                }
            }
            Some(open) => match open.next().await {
                Some(Ok(message)) => {
                    follow.reconnects = 0;
                    let Some(event) = message.event else { continue };
                    follow.after = follow.after.max(event.sequence);
                    return Some((Ok(event), follow));
                }
                // The server ends the stream after the run's terminal event.
                None => return None,
                Some(Err(status)) => status,
            },
        };
        follow.open = None;
        if is_transient(&failure) && follow.reconnects < MAX_RECONNECTS {
            follow.reconnects += 1;
            tokio::time::sleep(Duration::from_millis(50 << follow.reconnects)).await;
            continue;
        }
        follow.done = true;
        return Some((Err(Error::Status(failure)), follow));
    }
}

impl Weft {
    /// The events of `run_id` with a sequence above `after_sequence` (0:
    /// from the start), then live ones as they are committed, ending after
    /// the run's terminal event. A dropped connection is resumed from the
    /// last event received; a refusal (unknown run, …) ends the stream with
    /// that error.
    pub fn stream_run(
        &self,
        run_id: impl Into<String>,
        after_sequence: u64,
    ) -> impl Stream<Item = Result<pb::RunEvent, Error>> + Send + 'static {
        let follow = Follow {
            weft: self.clone(),
            run_id: run_id.into(),
            after: after_sequence,
            open: None,
            reconnects: 0,
            done: false,
        };
        stream::unfold(follow, next)
    }
}
