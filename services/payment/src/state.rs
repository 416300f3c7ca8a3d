//! Where a payment stands — the mirror of its PaymentIntent's status, plus `failed` for an
//! attempt that failed — and the rule that it never moves backwards, in the type: events that
//! arrive late or twice are told apart from real changes by [`PaymentState::may_become`].

/// A payment's state, stored as Stripe's status string (and `failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentState {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    /// The last attempt failed; the customer may try again.
    Failed,
    Processing,
    /// Authorized (manual capture), waiting to be captured.
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl PaymentState {
    pub const ALL: [PaymentState; 8] = [
        PaymentState::RequiresPaymentMethod,
        PaymentState::RequiresConfirmation,
        PaymentState::RequiresAction,
        PaymentState::Failed,
        PaymentState::Processing,
        PaymentState::RequiresCapture,
        PaymentState::Succeeded,
        PaymentState::Canceled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentState::RequiresPaymentMethod => "requires_payment_method",
            PaymentState::RequiresConfirmation => "requires_confirmation",
            PaymentState::RequiresAction => "requires_action",
            PaymentState::Failed => "failed",
            PaymentState::Processing => "processing",
            PaymentState::RequiresCapture => "requires_capture",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// How far along the way: unpaid (0), in flight (1), authorized (2), final (3).
    fn stage(&self) -> u8 {
        match self {
            PaymentState::RequiresPaymentMethod
            | PaymentState::RequiresConfirmation
            | PaymentState::RequiresAction
            | PaymentState::Failed => 0,
            PaymentState::Processing => 1,
            PaymentState::RequiresCapture => 2,
            PaymentState::Succeeded | PaymentState::Canceled => 3,
        }
    }

    /// Succeeded or canceled: nothing moves it any more.
    pub fn is_final(&self) -> bool {
        self.stage() == 3
    }

    /// Whether the payment may move from `self` to `next`. Never backwards: nothing leaves a final
    /// state, an authorization is not undone by a late `processing`, a success is never undone by
    /// a failure. The one step back is a failed attempt (in flight → failed), after which the
    /// customer may pay again.
    pub fn may_become(self, next: PaymentState) -> bool {
        match next {
            PaymentState::Succeeded | PaymentState::Canceled => !self.is_final(),
            PaymentState::RequiresCapture | PaymentState::Failed => self.stage() < 2,
            PaymentState::Processing => self.stage() < 1,
            PaymentState::RequiresPaymentMethod | PaymentState::RequiresConfirmation | PaymentState::RequiresAction => {
                self.stage() == 0
            }
        }
    }
}

impl std::fmt::Display for PaymentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentState::{self, *};

    #[test]
    fn names_round_trip() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentState::parse("paid"), None);
    }

    /// The whole table: (from, to) pairs allowed; every other pair is refused.
    #[test]
    fn never_backwards() {
        let allowed = |from: PaymentState, to: PaymentState| -> bool {
            match (from, to) {
                (Succeeded | Canceled, _) => false,
                (_, Succeeded | Canceled) => true,
                (RequiresCapture, _) => false,
                (Processing, Failed | RequiresCapture) => true,
                (Processing, _) => false,
                (_, _) => true, // unpaid or failed: any step forward or a new attempt
            }
        };
        for from in PaymentState::ALL {
            for to in PaymentState::ALL {
                assert_eq!(from.may_become(to), allowed(from, to), "{from} → {to}");
            }
        }
        // The cases the webhooks meet most.
        assert!(!Succeeded.may_become(Failed), "a late failure never undoes a success");
        assert!(
            !RequiresCapture.may_become(Processing),
            "a late processing never undoes an authorization"
        );
        assert!(Processing.may_become(Failed), "an attempt in flight may fail");
        assert!(Failed.may_become(Processing), "a new attempt after a failure");
    }
}
