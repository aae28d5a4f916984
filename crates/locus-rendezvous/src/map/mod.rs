//! The live map: the overlay drawn in a browser, served on the rendezvous' HTTP port beside
//! `/metrics` (docs/operations.md, "Live map").
//!
//! - `embed`: positions from the measured RTTs (landmark MDS, aligned onto the last ones).
//! - `overlay`: the JSON the page and scripts read.
//! - `sse`: the page's live feed of directory changes.
//! - `assets/`: the page itself, plain HTML, JS and CSS compiled into the binary.
//!
//! Two tasks feed it ([`Map::run`]). The relay takes every change from the directory's
//! broadcast (the one `WatchOverlay` reads), keeps the last [`RECENT_EVENTS`], and passes it
//! on to the open pages at once. The layout task re-reads the directory shortly after a change
//! and every [`REFRESH`] (refreshed announcements change links and RTTs without an event),
//! and when what is drawn changed, computes positions on a blocking thread and publishes a new
//! overlay; the pages fetch it when told. The overlay is serialized once per version, however
//! many pages read it.
//!
//! Routes: `/` (the page), `/map.js`, `/map.css`, `/api/overlay` (JSON), `/api/overlay.js`
//! (the same, as the script the page loads with itself), `/api/events` (server-sent events).

mod embed;
mod overlay;
mod sse;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use locus_service::Clock;
use tokio::sync::{Notify, Semaphore, broadcast, watch};

use crate::registry::Registry;

/// After a change, how long the layout waits for the changes that come with it (a failover
/// is an end and a leader change within milliseconds) before it reads the directory.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How often the layout re-reads the directory without a change event: announcements that
/// only refresh an entry may still bring new links or RTTs.
const REFRESH: Duration = Duration::from_secs(2);
/// The copy of the directory is made under its lock: re-reading it without a change waits at
/// least this many times as long as the last copy took, so that the map holds the lock at
/// most 1% of the time whatever the directory's size.
const COPY_PAUSE: u32 = 100;
/// A layout that took `t` is followed by a pause of `LAYOUT_PAUSE × t`, so that at the group
/// cap, where one takes seconds (`embed::MAX_LANDMARKS`), the map holds at most a fifth of one
/// core.
const LAYOUT_PAUSE: u32 = 4;
/// Changes a page that opens is shown.
const RECENT_EVENTS: usize = 100;
/// Map pages (event streams) open at once; more are refused with 503.
const MAX_STREAMS: usize = 64;
/// Updates buffered for the open pages; a page that falls further behind is told to reload
/// the overlay, which carries the recent changes.
const UPDATES_BUFFER: usize = 256;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/map.js");
const STYLE: &str = include_str!("assets/map.css");

/// The map's state, shared by its tasks and its HTTP handlers.
#[derive(Debug, Clone)]
pub(crate) struct Map {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    registry: Arc<Registry>,
    clock: Clock,
    /// The latest overlay.
    overlay: watch::Sender<Arc<Published>>,
    /// What the open pages are told.
    updates: broadcast::Sender<Update>,
    /// The last changes, serialized, oldest first.
    recent: Mutex<VecDeque<Arc<str>>>,
    streams: Arc<Semaphore>,
    /// Turns true when the rendezvous stops: the event streams end, so that the HTTP server's
    /// graceful shutdown is not held up by them.
    stopping: watch::Receiver<bool>,
}

/// One version of the overlay, serialized.
#[derive(Debug)]
struct Published {
    version: u64,
    /// An [`overlay::Overlay`] as a JSON object.
    json: String,
}

/// What an open page is told.
#[derive(Debug, Clone)]
enum Update {
    /// A directory change, serialized [`overlay::Event`].
    Change(Arc<str>),
    /// A new overlay version is out (or the page missed changes): fetch `/api/overlay`.
    Overlay(u64),
}

impl Map {
    pub(crate) fn new(
        registry: Arc<Registry>,
        clock: Clock,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let empty = overlay::Directory::default()
            .layout(
                0,
                locus_proto::directory::unix_ms(clock.now()),
                &HashMap::new(),
            )
            .0;
        let (overlay, _) = watch::channel(Arc::new(Published {
            version: 0,
            json: to_json(&empty),
        }));
        let (updates, _) = broadcast::channel(UPDATES_BUFFER);
        Map {
            shared: Arc::new(Shared {
                registry,
                clock,
                overlay,
                updates,
                recent: Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)),
                streams: Arc::new(Semaphore::new(MAX_STREAMS)),
                stopping,
            }),
        }
    }

    /// The map's HTTP routes.
    pub(crate) fn router(&self) -> Router {
        let text = |kind: &'static str, body: &'static str| {
            move || async move {
                (
                    [
                        (header::CONTENT_TYPE, kind),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }
        };
        Router::new()
            .route("/", get(text("text/html; charset=utf-8", PAGE)))
            .route(
                "/map.js",
                get(text("text/javascript; charset=utf-8", SCRIPT)),
            )
            .route("/map.css", get(text("text/css; charset=utf-8", STYLE)))
            .route("/api/overlay", get(serve_overlay))
            .route("/api/overlay.js", get(serve_overlay_script))
            .route("/api/events", get(sse::events))
            .with_state(self.clone())
    }

    /// Relays the directory's changes and keeps the overlay's layout current, until the
    /// directory's broadcast closes or the task is dropped.
    pub(crate) async fn run(self) {
        let changes = self.shared.registry.subscribe();
        let dirty = Notify::new();
        tokio::select! {
            () = self.relay(changes, &dirty) => {}
            () = self.layouts(&dirty) => {}
        }
    }

    async fn relay(
        &self,
        mut changes: broadcast::Receiver<crate::registry::Tagged>,
        dirty: &Notify,
    ) {
        let mut seq = 0;
        loop {
            match changes.recv().await {
                Ok(change) => {
                    seq += 1;
                    if let Some(event) = overlay::Event::from_pb(seq, &change.event) {
                        let json: Arc<str> = to_json(&event).into();
                        {
                            let mut recent = self
                                .shared
                                .recent
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            if recent.len() == RECENT_EVENTS {
                                recent.pop_front();
                            }
                            recent.push_back(Arc::clone(&json));
                        }
                        // An error only means that no page is open.
                        let _ = self.shared.updates.send(Update::Change(json));
                    }
                    dirty.notify_one();
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "the map fell behind the directory's changes");
                    let version = self.shared.overlay.borrow().version;
                    let _ = self.shared.updates.send(Update::Overlay(version));
                    dirty.notify_one();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn layouts(&self, dirty: &Notify) {
        let mut previous = HashMap::new();
        let mut drawn = None;
        let mut version = 0;
        let mut first = true;
        let mut copy_took = Duration::ZERO;
        loop {
            if !std::mem::take(&mut first) {
                tokio::select! {
                    () = dirty.notified() => tokio::time::sleep(DEBOUNCE).await,
                    () = tokio::time::sleep(REFRESH.max(copy_took * COPY_PAUSE)) => {}
                }
            }
            let copying = Instant::now();
            let directory = self
                .shared
                .registry
                .with_entries(|entries| overlay::Directory::copy(entries));
            copy_took = copying.elapsed();
            let fingerprint = directory.fingerprint();
            if drawn == Some(fingerprint) {
                continue;
            }
            drawn = Some(fingerprint);
            version += 1;
            let taken = locus_proto::directory::unix_ms(self.shared.clock.now());
            let started = Instant::now();
            let last = std::mem::take(&mut previous);
            let groups = directory.len();
            let laid_out = tokio::task::spawn_blocking(move || {
                let (overlay, positions) = directory.layout(version, taken, &last);
                (to_json(&overlay), positions)
            })
            .await;
            let (json, positions) = match laid_out {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "the map's layout failed");
                    drawn = None;
                    continue;
                }
            };
            previous = positions;
            self.shared
                .overlay
                .send_replace(Arc::new(Published { version, json }));
            let _ = self.shared.updates.send(Update::Overlay(version));
            let took = started.elapsed();
            tracing::debug!(
                version,
                groups,
                took_ms = took.as_millis() as u64,
                "map laid out"
            );
            tokio::time::sleep(took * LAYOUT_PAUSE).await;
        }
    }
}

/// `/api/overlay`: the latest overlay with the recent changes.
async fn serve_overlay(State(map): State<Map>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        overlay_json(&map),
    )
}

/// `/api/overlay.js`: the same as a script that the page loads with itself, so that it is
/// drawn by the time the page has loaded (one round trip less, and a headless browser's
/// `--dump-dom` and `--screenshot`, taken at the load event, see the map).
async fn serve_overlay_script(State(map): State<Map>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        format!("window.LOCUS_OVERLAY = {};\n", overlay_json(&map)),
    )
}

fn overlay_json(map: &Map) -> String {
    let published = Arc::clone(&map.shared.overlay.borrow());
    let events = {
        let recent = map
            .shared
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list = String::from("[");
        for (i, e) in recent.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str(e);
        }
        list.push(']');
        list
    };
    // The overlay is serialized once per version; the changes are spliced in as its first
    // field (`json` is an object, so it starts with `{` and holds at least `version`).
    format!("{{\"events\":{events},{}", &published.json[1..])
}

/// The map's types hold only strings, numbers and lists: serializing them cannot fail.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("the map's JSON types always serialize")
}
