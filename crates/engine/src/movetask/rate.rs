//! MaxNumberOfMessagesPerSecond: at most `per_second` moves in any one-second window of the
//! clock, not per calendar second (so a burst at the end of one second and another at the
//! start of the next cannot double the rate).

use std::collections::VecDeque;

use crate::clock::Millis;

#[derive(Debug)]
pub(super) struct RateWindow {
    per_second: u32,
    /// Moves of the last second: (time, count), oldest first.
    moves: VecDeque<(Millis, u32)>,
}

impl RateWindow {
    pub(super) fn new(per_second: u32) -> RateWindow {
        RateWindow { per_second, moves: VecDeque::new() }
    }

    /// How many messages may move at `now`, or (`Err`) the time when some may again.
    pub(super) fn room(&mut self, now: Millis) -> Result<u32, Millis> {
        while self.moves.front().is_some_and(|&(t, _)| t + 1000 <= now) {
            self.moves.pop_front();
        }
        let used: u32 = self.moves.iter().map(|&(_, n)| n).sum();
        if used < self.per_second {
            return Ok(self.per_second - used);
        }
        Err(self.moves.front().map_or(now + 1000, |&(t, _)| t + 1000))
    }

    pub(super) fn moved(&mut self, now: Millis, n: u32) {
        self.moves.push_back((now, n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_reopens_one_second_after_its_oldest_move() {
        let mut w = RateWindow::new(10);
        assert_eq!(w.room(1_000), Ok(10));
        w.moved(1_000, 4);
        w.moved(1_400, 6);
        assert_eq!(w.room(1_500), Err(2_000));
        assert_eq!(w.room(1_999), Err(2_000));
        // The first 4 leave the window; the 6 of 1_400 are still in it.
        assert_eq!(w.room(2_000), Ok(4));
        assert_eq!(w.room(2_400), Ok(10));
    }

    #[test]
    fn moves_at_the_end_of_one_second_count_against_the_start_of_the_next() {
        let mut w = RateWindow::new(5);
        w.moved(1_999, 5);
        assert_eq!(w.room(2_000), Err(2_999), "a calendar-second cap would allow 5 more here");
        assert_eq!(w.room(2_999), Ok(5));
    }
}
