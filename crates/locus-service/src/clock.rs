//! Wall-clock instants for the core: microseconds since the Unix epoch, advanced by a monotonic
//! clock so that they never go backwards when the system clock is stepped.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use locus_core::Time;

/// The runtime's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_unix_us: u64,
}

impl Clock {
    /// A clock that reads the system time once, now.
    pub fn new() -> Self {
        let origin_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or_default();
        Clock {
            origin: Instant::now(),
            origin_unix_us,
        }
    }

    /// The current instant.
    pub fn now(&self) -> Time {
        Time::from_micros(self.origin_unix_us + self.origin.elapsed().as_micros() as u64)
    }
}

impl Clock {
    /// The monotonic instant of a core instant, for timers; instants in the past map to now.
    pub fn instant_of(&self, t: Time) -> Instant {
        let since_origin = t.as_micros().saturating_sub(self.origin_unix_us);
        self.origin + std::time::Duration::from_micros(since_origin)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
