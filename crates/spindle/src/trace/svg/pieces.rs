// Layer 3 (wait-for graph, detection settings, trace events): built on the registry; below the waiting path, which uses it.
//! What a row's spans are drawn as: bars at least a pixel wide. Neighbouring spans that
//! look the same are one bar; runs of spans narrower than a pixel are one bar too,
//! coloured by what took most of its time. A row that would still need more than a set
//! number of bars is drawn again with a coarser minimum width, so that no recording,
//! however busy, makes a drawing too large to open.

use crate::trace::timeline::TimelineSpan;

/// One bar: the spans it stands for, and how their time divides.
pub(super) struct Piece<'a> {
    pub(super) start_us: f64,
    pub(super) end_us: f64,
    /// What it is drawn as (colour and legend entry): the key with the largest share.
    pub(super) key: String,
    /// How many spans it stands for.
    pub(super) spans: usize,
    /// Whether every span it stands for has the same label and detail (then it reads
    /// as one span).
    pub(super) uniform: bool,
    /// Its longest span, whose label and detail the hover text gives.
    pub(super) longest: &'a TimelineSpan,
    /// Microseconds per key, largest first once finished.
    shares: Vec<(String, f64)>,
}

impl<'a> Piece<'a> {
    fn new(span: &'a TimelineSpan, key: &str) -> Piece<'a> {
        Piece {
            start_us: span.start_us,
            end_us: span.end_us(),
            key: key.to_owned(),
            spans: 1,
            uniform: true,
            longest: span,
            shares: vec![(key.to_owned(), span.dur_us)],
        }
    }

    fn width_us(&self) -> f64 {
        self.end_us - self.start_us
    }

    fn looks_like(&self, span: &TimelineSpan) -> bool {
        self.uniform && self.longest.label == span.label && self.longest.detail == span.detail
    }

    fn absorb(&mut self, span: &'a TimelineSpan, key: &str) {
        self.uniform = self.looks_like(span);
        self.end_us = self.end_us.max(span.end_us());
        self.spans += 1;
        if span.dur_us > self.longest.dur_us {
            self.longest = span;
        }
        self.add_share(key, span.dur_us);
    }

    fn merge(&mut self, other: Piece<'a>) {
        self.uniform = false;
        self.end_us = self.end_us.max(other.end_us);
        self.spans += other.spans;
        if other.longest.dur_us > self.longest.dur_us {
            self.longest = other.longest;
        }
        for (key, us) in other.shares {
            self.add_share(&key, us);
        }
    }

    fn add_share(&mut self, key: &str, us: f64) {
        match self.shares.iter_mut().find(|(k, _)| k == key) {
            Some((_, total)) => *total += us,
            None => self.shares.push((key.to_owned(), us)),
        }
        let top = self
            .shares
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a piece has a share");
        self.key.clone_from(&top.0);
    }

    /// `Runnable 61%, Blocked 39%`: how the bar's spans divide their time.
    pub(super) fn shares_text(&self) -> String {
        let total: f64 = self.shares.iter().map(|(_, us)| us).sum();
        let mut shares = self.shares.clone();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        shares
            .iter()
            .map(|(key, us)| {
                let pct = if total > 0.0 { us / total * 100.0 } else { 0.0 };
                format!("{key} {pct:.0}%")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The bars for `spans` (in order of start) at `pixel_us` microseconds per pixel, at most
/// about `max` of them; `key` says what a span is drawn as.
pub(super) fn pieces<'a>(
    spans: &'a [TimelineSpan],
    key: fn(&TimelineSpan) -> &str,
    pixel_us: f64,
    max: usize,
) -> Vec<Piece<'a>> {
    let mut min_pixels = 1.0;
    loop {
        let drawn = build(spans, key, pixel_us * min_pixels);
        if drawn.len() <= max || min_pixels >= 1024.0 {
            return drawn;
        }
        min_pixels *= 2.0;
    }
}

/// Bars at least `min_us` wide where spans are that dense.
fn build<'a>(
    spans: &'a [TimelineSpan],
    key: fn(&TimelineSpan) -> &str,
    min_us: f64,
) -> Vec<Piece<'a>> {
    let mut out: Vec<Piece<'a>> = Vec::new();
    for span in spans {
        if let Some(last) = out.last_mut() {
            // A gap under half a pixel cannot be seen.
            let touching = span.start_us - last.end_us <= min_us / 2.0;
            if touching && (last.width_us() < min_us || last.looks_like(span)) {
                last.absorb(span, key(span));
                continue;
            }
        }
        out.push(Piece::new(span, key(span)));
    }
    // Bars of mixed spans side by side that come out the same colour are one bar.
    let mut merged: Vec<Piece<'a>> = Vec::with_capacity(out.len());
    for piece in out {
        if let Some(last) = merged.last_mut() {
            let touching = piece.start_us - last.end_us <= min_us / 2.0;
            if touching && !last.uniform && !piece.uniform && last.key == piece.key {
                last.merge(piece);
                continue;
            }
        }
        merged.push(piece);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(label: &str, start_us: f64, dur_us: f64) -> TimelineSpan {
        TimelineSpan {
            label: label.to_owned(),
            start_us,
            dur_us,
            detail: None,
        }
    }

    fn label(s: &TimelineSpan) -> &str {
        &s.label
    }

    #[test]
    fn wide_spans_are_drawn_one_by_one() {
        let spans = [span("Runnable", 0.0, 10.0), span("Blocked", 10.0, 10.0)];
        let drawn = pieces(&spans, label, 1.0, 100);
        let keys: Vec<_> = drawn.iter().map(|p| (p.key.as_str(), p.spans)).collect();
        assert_eq!(keys, [("Runnable", 1), ("Blocked", 1)]);
    }

    #[test]
    fn identical_neighbours_read_as_one_span() {
        let spans = [span("Runnable", 0.0, 10.0), span("Runnable", 10.0, 5.0)];
        let drawn = pieces(&spans, label, 1.0, 100);
        assert_eq!(drawn.len(), 1);
        assert!(drawn[0].uniform);
        assert_eq!((drawn[0].start_us, drawn[0].end_us), (0.0, 15.0));
    }

    #[test]
    fn spans_under_a_pixel_become_one_bar_coloured_by_the_longest_share() {
        // 1000 alternations of 3 µs running and 2 µs blocked, at 100 µs per pixel.
        let spans: Vec<_> = (0..1000)
            .flat_map(|i| {
                let t = f64::from(i) * 5.0;
                [span("Runnable", t, 3.0), span("Blocked", t + 3.0, 2.0)]
            })
            .collect();
        let drawn = pieces(&spans, label, 100.0, 100);
        assert_eq!(drawn.len(), 1, "one bar for 5 ms of sub-pixel spans");
        assert_eq!(drawn[0].key, "Runnable");
        assert_eq!(drawn[0].spans, 2000);
        assert_eq!(drawn[0].shares_text(), "Runnable 60%, Blocked 40%");
    }

    #[test]
    fn a_busy_row_is_capped() {
        // Dominance flips every 3 pixels: merged per pixel, it would need ~300 bars.
        let spans: Vec<_> = (0..300)
            .map(|i| {
                let which = if i % 2 == 0 { "Runnable" } else { "Blocked" };
                span(which, f64::from(i) * 3.0, 3.0)
            })
            .collect();
        let drawn = pieces(&spans, label, 1.0, 50);
        assert!(drawn.len() <= 50, "{} bars", drawn.len());
        let covered: f64 = drawn.iter().map(Piece::width_us).sum();
        assert_eq!(covered, 900.0, "every microsecond is still drawn");
    }
}
