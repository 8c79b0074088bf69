//! The monotonic playback clock: media time advanced by wall time × speed while playing.
//!
//! While audio is audible the audio output's position is the master clock (see
//! [`crate::media::Player::position_secs`]); this clock is used otherwise (no audio stream, no
//! sound card, `UNIVA_AUDIO=off`, audio starved) and is re-anchored to the audio position each
//! time that is read, so switching between the two never jumps.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct PlaybackClock {
    /// Media time at `anchor`.
    anchor_secs: f64,
    /// Wall time the anchor was taken; `None` while paused.
    anchor: Option<Instant>,
    speed: f64,
}

impl PlaybackClock {
    /// A paused clock at `secs`.
    pub fn new(secs: f64) -> Self {
        Self { anchor_secs: secs, anchor: None, speed: 1.0 }
    }

    /// Media time now.
    pub fn now_secs(&self) -> f64 {
        self.at(Instant::now())
    }

    /// Media time at wall time `instant` (for tests and benchmarks that drive time themselves).
    pub fn at(&self, instant: Instant) -> f64 {
        match self.anchor {
            Some(anchor) => self.anchor_secs + instant.saturating_duration_since(anchor).as_secs_f64() * self.speed,
            None => self.anchor_secs,
        }
    }

    pub fn is_running(&self) -> bool {
        self.anchor.is_some()
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn play(&mut self) {
        if self.anchor.is_none() {
            self.anchor = Some(Instant::now());
        }
    }

    pub fn pause(&mut self) {
        self.anchor_secs = self.now_secs();
        self.anchor = None;
    }

    /// Jumps to `secs`, keeping the running/paused state.
    pub fn set(&mut self, secs: f64) {
        self.set_at(secs, Instant::now());
    }

    /// Makes the clock read `secs` at wall time `instant`.
    pub fn set_at(&mut self, secs: f64, instant: Instant) {
        self.anchor_secs = secs;
        if self.anchor.is_some() {
            self.anchor = Some(instant);
        }
    }

    pub fn set_speed(&mut self, speed: f64) {
        self.set(self.now_secs());
        self.speed = speed;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn advances_only_while_running_and_scales_with_speed() {
        let mut clock = PlaybackClock::new(2.0);
        assert_eq!(clock.now_secs(), 2.0);
        clock.play();
        let t0 = clock.anchor.unwrap();
        assert!((clock.at(t0 + Duration::from_millis(500)) - 2.5).abs() < 1e-9);
        clock.set_speed(2.0);
        let t1 = clock.anchor.unwrap();
        let base = clock.at(t1);
        assert!((clock.at(t1 + Duration::from_millis(500)) - (base + 1.0)).abs() < 1e-9);
        clock.pause();
        let paused_at = clock.now_secs();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now_secs(), paused_at);
        clock.set(7.0);
        assert_eq!(clock.now_secs(), 7.0);
    }
}
