//! What became of a claim: it held, it did not, it could not be measured here, or the
//! experiment was skipped for want of something this machine lacks.

/// The outcome of one claim, or of a whole experiment (its parts combined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// What was measured agrees with the claim.
    Holds,
    /// What was measured contradicts the claim.
    DoesNotHold,
    /// Nothing conclusive was measured: a thread panicked or hung, an input was
    /// unreadable, or the machine cannot show it (one core, cores busy).
    NotMeasured,
    /// The experiment needs something this machine lacks (a server program) and did not
    /// run. Neither holds nor does not hold, and `spindle lab`'s exit status ignores it.
    Skipped,
}

impl Verdict {
    /// As the text and JSON outputs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotMeasured => "not measured",
            Verdict::Skipped => "skipped",
        }
    }

    /// The HTML report's class for it.
    pub fn css_class(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does-not-hold",
            Verdict::NotMeasured => "not-measured",
            Verdict::Skipped => "skipped",
        }
    }

    /// The verdict of claims taken together: one that does not hold outweighs one not
    /// measured, which outweighs those that hold. No claims at all: not measured.
    pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut combined = None;
        for v in verdicts {
            combined = Some(match (combined, v) {
                (_, Verdict::DoesNotHold) | (Some(Verdict::DoesNotHold), _) => Verdict::DoesNotHold,
                (_, Verdict::NotMeasured) | (Some(Verdict::NotMeasured), _) => Verdict::NotMeasured,
                (Some(Verdict::Holds), _) | (_, Verdict::Holds) => Verdict::Holds,
                (_, Verdict::Skipped) => Verdict::Skipped,
            });
        }
        combined.unwrap_or(Verdict::NotMeasured)
    }
}

/// One claim of an experiment and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The claim, in a few words.
    pub claim: String,
    pub verdict: Verdict,
    /// Why it was not measured (empty otherwise).
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::Verdict::{self, *};

    #[test]
    fn the_worst_outcome_decides() {
        assert_eq!(Verdict::combine([Holds, Holds]), Holds);
        assert_eq!(Verdict::combine([Holds, NotMeasured, Holds]), NotMeasured);
        assert_eq!(Verdict::combine([NotMeasured, DoesNotHold]), DoesNotHold);
        assert_eq!(Verdict::combine([DoesNotHold, Holds]), DoesNotHold);
        assert_eq!(Verdict::combine([Skipped]), Skipped);
        assert_eq!(Verdict::combine([Skipped, Holds]), Holds);
        assert_eq!(Verdict::combine([]), NotMeasured);
    }
}
