//! `/api/events`: the page's live feed, as server-sent events.
//!
//! - `change`: one directory change (an [`overlay::Event`](super::overlay::Event) as JSON),
//!   sent as soon as the directory makes it.
//! - `overlay`: a new overlay version is out (data: the version); the page fetches
//!   `/api/overlay`. Also sent first, and when the page fell behind and missed changes.
//!
//! A forwarding task per stream, as for `WatchOverlay`: it holds one of [`MAX_STREAMS`]
//! permits and ends when the page goes away or the rendezvous stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Map, Update};

/// Events queued per stream between its forwarding task and the connection.
const STREAM_QUEUE: usize = 64;
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn events(State(map): State<Map>) -> Response {
    let shared = &map.shared;
    let Ok(permit) = Arc::clone(&shared.streams).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many map pages open, try again later",
        )
            .into_response();
    };
    let mut updates = shared.updates.subscribe();
    let mut stopping = shared.stopping.clone();
    let overlay = shared.overlay.subscribe();
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(STREAM_QUEUE);
    tokio::spawn(async move {
        let _permit = permit;
        let version = || overlay.borrow().version;
        let forward = async {
            tx.send(Ok(overlay_event(version()))).await.ok()?;
            loop {
                let event = match updates.recv().await {
                    Ok(Update::Change(json)) => Event::default().event("change").data(&*json),
                    Ok(Update::Overlay(v)) => overlay_event(v),
                    // Changes were missed: the overlay carries the recent ones.
                    Err(broadcast::error::RecvError::Lagged(_)) => overlay_event(version()),
                    Err(broadcast::error::RecvError::Closed) => return None::<()>,
                };
                tx.send(Ok(event)).await.ok()?;
            }
        };
        tokio::select! {
            _ = forward => {}
            () = tx.closed() => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn overlay_event(version: u64) -> Event {
    Event::default().event("overlay").data(version.to_string())
}
