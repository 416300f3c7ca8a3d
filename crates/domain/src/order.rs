//! The order aggregate and its state machine — the authoritative table of `design.md`:
//!
//! | from | to | trigger |
//! |---|---|---|
//! | (none) | pending | cart completed ([`Order::place`]) |
//! | pending | processing | payment processing / authorized |
//! | pending, processing | paid | payment succeeded for exactly the order total |
//! | pending, processing | canceled | payment succeeded for another amount or currency (refunded in full) |
//! | processing | pending | payment failed (attempt recorded; the customer may retry) |
//! | pending, processing | canceled | customer (pending only) or operator cancels, or the unpaid order expires (not while an asynchronous payment is in flight) |
//! | paid | fulfilled | all lines fulfilled |
//! | fulfilled | delivered | all lines delivered |
//! | paid, fulfilled, delivered | refunded | refunded total reaches the captured total |
//!
//! Changes that keep the order status but move a side status are also [`Outcome::Applied`]:
//! a failed payment while `pending` (attempt recorded), authorization while `processing`, a
//! partial fulfilment/delivery, a partial refund (`payment_status = partially_refunded`), and a
//! payment that succeeds on a `canceled` order (kept canceled, [`Effect::RefundPayment`] — the
//! money is never lost) and the refund that follows it.
//!
//! Anything else is an [`TransitionError`], never a silent no-op, except a repeat of a trigger
//! already applied with the same event id, which is [`Outcome::Duplicate`] and changes nothing.

use crate::money::{Money, MoneyError};
use uuid::Uuid;

string_enum!(
    /// The order's lifecycle state.
    OrderStatus {
        Pending => "pending",
        Processing => "processing",
        Paid => "paid",
        Fulfilled => "fulfilled",
        Delivered => "delivered",
        Canceled => "canceled",
        Refunded => "refunded",
    }
);

string_enum!(
    /// Where the money is; filterable by operators.
    PaymentStatus {
        Awaiting => "awaiting",
        Processing => "processing",
        Authorized => "authorized",
        Failed => "failed",
        Captured => "captured",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Canceled => "canceled",
    }
);

string_enum!(
    /// Where the goods are; filterable by operators.
    FulfillmentStatus {
        NotFulfilled => "not_fulfilled",
        PartiallyFulfilled => "partially_fulfilled",
        Fulfilled => "fulfilled",
        PartiallyDelivered => "partially_delivered",
        Delivered => "delivered",
        Canceled => "canceled",
    }
);

string_enum!(
    /// The kind of trigger, as stored in the state history.
    TriggerKind {
        CartCompleted => "cart_completed",
        PaymentProcessing => "payment_processing",
        PaymentAuthorized => "payment_authorized",
        PaymentSucceeded => "payment_succeeded",
        PaymentFailed => "payment_failed",
        Canceled => "canceled",
        LinesFulfilled => "lines_fulfilled",
        LinesDelivered => "lines_delivered",
        Refunded => "refunded",
    }
);

string_enum!(
    /// Digital lines are fulfilled by download grants, physical ones by shipments.
    LineKind { Digital => "digital", Physical => "physical" }
);

string_enum!(
    /// Who or what canceled an order.
    CancelReason { Customer => "customer", Operator => "operator", Expired => "expired" }
);

impl OrderStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(self, OrderStatus::Canceled | OrderStatus::Refunded)
    }

    /// Position along the lifecycle; terminal states are last.
    pub fn rank(&self) -> u8 {
        match self {
            OrderStatus::Pending => 0,
            OrderStatus::Processing => 1,
            OrderStatus::Paid => 2,
            OrderStatus::Fulfilled => 3,
            OrderStatus::Delivered => 4,
            OrderStatus::Canceled | OrderStatus::Refunded => 5,
        }
    }
}

/// Every status change the machine makes (from, to) — the table above as data, for drawing it
/// (the dashboard's diagram). A test holds it to [`Order::apply`]: every transition applied is
/// listed here, and every pair listed is reachable.
pub const TRANSITIONS: &[(OrderStatus, OrderStatus)] = &[
    (OrderStatus::Pending, OrderStatus::Processing),
    (OrderStatus::Pending, OrderStatus::Paid),
    (OrderStatus::Processing, OrderStatus::Paid),
    (OrderStatus::Processing, OrderStatus::Pending),
    (OrderStatus::Pending, OrderStatus::Canceled),
    (OrderStatus::Processing, OrderStatus::Canceled),
    (OrderStatus::Paid, OrderStatus::Fulfilled),
    (OrderStatus::Fulfilled, OrderStatus::Delivered),
    (OrderStatus::Paid, OrderStatus::Refunded),
    (OrderStatus::Fulfilled, OrderStatus::Refunded),
    (OrderStatus::Delivered, OrderStatus::Refunded),
];

/// What happened to the order. Each value carries what the transition needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    PaymentProcessing,
    /// Manual capture: the amount is authorized and awaits capture.
    PaymentAuthorized {
        amount: Money,
    },
    PaymentSucceeded {
        amount: Money,
    },
    PaymentFailed {
        reason: String,
    },
    Cancel {
        reason: CancelReason,
    },
    LinesFulfilled {
        lines: Vec<Uuid>,
    },
    LinesDelivered {
        lines: Vec<Uuid>,
    },
    /// One refund of `amount` (not cumulative); refunds are told apart by their event id.
    Refunded {
        amount: Money,
    },
}

impl Trigger {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::PaymentProcessing => TriggerKind::PaymentProcessing,
            Trigger::PaymentAuthorized { .. } => TriggerKind::PaymentAuthorized,
            Trigger::PaymentSucceeded { .. } => TriggerKind::PaymentSucceeded,
            Trigger::PaymentFailed { .. } => TriggerKind::PaymentFailed,
            Trigger::Cancel { .. } => TriggerKind::Canceled,
            Trigger::LinesFulfilled { .. } => TriggerKind::LinesFulfilled,
            Trigger::LinesDelivered { .. } => TriggerKind::LinesDelivered,
            Trigger::Refunded { .. } => TriggerKind::Refunded,
        }
    }
}

/// Work other services must do because of a change (carried by the outbox event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    ReleaseInventory,
    CancelPayment,
    RefundPayment { amount: Money },
    RevokeDownloads,
}

/// One applied change: what the state-history row records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub event_id: Uuid,
    pub trigger: TriggerKind,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub effects: Vec<Effect>,
}

impl Change {
    /// True when the order status itself moved.
    pub fn is_transition(&self) -> bool {
        self.from != self.to
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied(Change),
    /// The same trigger with the same event id was applied before: nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{trigger} is not allowed while the order is {from}")]
    NotAllowed { from: OrderStatus, trigger: TriggerKind },
    #[error("event {event_id} was already applied as {applied_as}, not {trigger}")]
    EventIdReused {
        event_id: Uuid,
        applied_as: TriggerKind,
        trigger: TriggerKind,
    },
    #[error("payment of {paid} does not cover the order total {total}")]
    InsufficientPayment { paid: i64, total: i64 },
    #[error("refund of {requested} exceeds the refundable {remaining}")]
    RefundExceedsCaptured { requested: i64, remaining: i64 },
    #[error("refund amount must be positive")]
    EmptyRefund,
    #[error("line {0} is not part of this order")]
    UnknownLine(Uuid),
    #[error("line {0} is already fulfilled")]
    LineAlreadyFulfilled(Uuid),
    #[error("line {0} is not fulfilled yet")]
    LineNotFulfilled(Uuid),
    #[error("line {0} is already delivered")]
    LineAlreadyDelivered(Uuid),
    #[error("no lines given")]
    NoLines,
    #[error("an order needs at least one line")]
    EmptyOrder,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub id: Uuid,
    pub kind: LineKind,
    pub fulfilled: bool,
    pub delivered: bool,
}

/// The order aggregate. Fields are private: the only way to change it is [`Order::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    status: OrderStatus,
    payment_status: PaymentStatus,
    fulfillment_status: FulfillmentStatus,
    total: Money,
    captured: Option<Money>,
    refunded: Money,
    failed_attempts: u32,
    lines: Vec<Line>,
    applied: Vec<(Uuid, TriggerKind)>,
}

/// Everything needed to rebuild an order from storage.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub total: Money,
    pub captured: Option<Money>,
    pub refunded: Money,
    pub failed_attempts: u32,
    pub lines: Vec<Line>,
    /// Event ids and triggers from the state history.
    pub applied: Vec<(Uuid, TriggerKind)>,
}

impl Order {
    /// A cart was completed: a new `pending` order.
    pub fn place(total: Money, lines: Vec<(Uuid, LineKind)>) -> Result<Order, TransitionError> {
        if lines.is_empty() {
            return Err(TransitionError::EmptyOrder);
        }
        Ok(Order {
            status: OrderStatus::Pending,
            payment_status: PaymentStatus::Awaiting,
            fulfillment_status: FulfillmentStatus::NotFulfilled,
            total,
            captured: None,
            refunded: Money::zero(total.currency()),
            failed_attempts: 0,
            lines: lines
                .into_iter()
                .map(|(id, kind)| Line {
                    id,
                    kind,
                    fulfilled: false,
                    delivered: false,
                })
                .collect(),
            applied: Vec::new(),
        })
    }

    pub fn restore(s: Snapshot) -> Order {
        Order {
            status: s.status,
            payment_status: s.payment_status,
            fulfillment_status: s.fulfillment_status,
            total: s.total,
            captured: s.captured,
            refunded: s.refunded,
            failed_attempts: s.failed_attempts,
            lines: s.lines,
            applied: s.applied,
        }
    }

    pub fn status(&self) -> OrderStatus {
        self.status
    }
    pub fn payment_status(&self) -> PaymentStatus {
        self.payment_status
    }
    pub fn fulfillment_status(&self) -> FulfillmentStatus {
        self.fulfillment_status
    }
    pub fn total(&self) -> Money {
        self.total
    }
    pub fn captured(&self) -> Option<Money> {
        self.captured
    }
    pub fn refunded(&self) -> Money {
        self.refunded
    }
    pub fn failed_attempts(&self) -> u32 {
        self.failed_attempts
    }
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Apply a trigger identified by `event_id`. On error the order is unchanged.
    pub fn apply(&mut self, event_id: Uuid, trigger: Trigger) -> Result<Outcome, TransitionError> {
        let kind = trigger.kind();
        if let Some((_, applied_as)) = self.applied.iter().find(|(id, _)| *id == event_id) {
            return if *applied_as == kind {
                Ok(Outcome::Duplicate)
            } else {
                Err(TransitionError::EventIdReused {
                    event_id,
                    applied_as: *applied_as,
                    trigger: kind,
                })
            };
        }
        // Work on a copy so that an error leaves `self` untouched.
        let mut next = self.clone();
        let effects = next.step(trigger)?;
        let change = Change {
            event_id,
            trigger: kind,
            from: self.status,
            to: next.status,
            payment_status: next.payment_status,
            fulfillment_status: next.fulfillment_status,
            effects,
        };
        next.applied.push((event_id, kind));
        *self = next;
        Ok(Outcome::Applied(change))
    }

    fn not_allowed(&self, trigger: TriggerKind) -> TransitionError {
        TransitionError::NotAllowed {
            from: self.status,
            trigger,
        }
    }

    fn step(&mut self, trigger: Trigger) -> Result<Vec<Effect>, TransitionError> {
        use OrderStatus as S;
        let kind = trigger.kind();
        match (self.status, trigger) {
            (S::Pending, Trigger::PaymentProcessing) => {
                self.status = S::Processing;
                self.payment_status = PaymentStatus::Processing;
                Ok(vec![])
            }
            (S::Pending | S::Processing, Trigger::PaymentAuthorized { amount }) => {
                self.check_covers(amount)?;
                self.status = S::Processing;
                self.payment_status = PaymentStatus::Authorized;
                Ok(vec![])
            }
            (S::Pending | S::Processing, Trigger::PaymentSucceeded { amount }) if amount != self.total => {
                // A payment for another amount or currency can never pay this order: cancel it
                // (stock back) and give all of it back. The money is not lost: `order.canceled`
                // (reason payment_mismatch) makes the payment service refund a succeeded payment.
                if amount.currency() == self.total.currency() {
                    self.captured = Some(amount);
                }
                self.status = S::Canceled;
                self.payment_status = PaymentStatus::Captured;
                self.fulfillment_status = FulfillmentStatus::Canceled;
                Ok(vec![Effect::ReleaseInventory])
            }
            (S::Pending | S::Processing, Trigger::PaymentSucceeded { amount }) => {
                self.check_covers(amount)?;
                self.status = S::Paid;
                self.payment_status = PaymentStatus::Captured;
                self.captured = Some(amount);
                Ok(vec![])
            }
            (S::Canceled, Trigger::PaymentSucceeded { amount }) if self.captured.is_none() => {
                // Paid after cancellation: keep it canceled and give the money back.
                self.refunded.checked_add(amount)?; // currency check
                self.payment_status = PaymentStatus::Captured;
                self.captured = Some(amount);
                Ok(vec![Effect::RefundPayment { amount }])
            }
            (S::Pending | S::Processing, Trigger::PaymentFailed { .. }) => {
                self.status = S::Pending;
                self.payment_status = PaymentStatus::Failed;
                self.failed_attempts = self.failed_attempts.saturating_add(1);
                Ok(vec![])
            }
            (S::Processing, Trigger::Cancel { reason })
                if reason == CancelReason::Customer
                    || (reason == CancelReason::Expired && self.payment_status == PaymentStatus::Processing) =>
            {
                // Once paying, the customer can no longer cancel; and an asynchronous payment
                // still in flight at Stripe is not expired (the payment service's reconciler
                // settles it; a failure brings the order back to pending, which can expire).
                Err(self.not_allowed(kind))
            }
            (S::Pending | S::Processing, Trigger::Cancel { .. }) => {
                let mut effects = vec![Effect::ReleaseInventory];
                if matches!(
                    self.payment_status,
                    PaymentStatus::Processing | PaymentStatus::Authorized
                ) {
                    effects.push(Effect::CancelPayment);
                }
                self.status = S::Canceled;
                self.payment_status = PaymentStatus::Canceled;
                self.fulfillment_status = FulfillmentStatus::Canceled;
                Ok(effects)
            }
            (S::Paid, Trigger::LinesFulfilled { lines }) => {
                self.mark_lines(&lines, true)?;
                if self.lines.iter().all(|l| l.fulfilled) {
                    self.status = S::Fulfilled;
                }
                Ok(vec![])
            }
            (S::Paid | S::Fulfilled, Trigger::LinesDelivered { lines }) => {
                self.mark_lines(&lines, false)?;
                if self.lines.iter().all(|l| l.delivered) {
                    self.status = S::Delivered;
                }
                Ok(vec![])
            }
            (S::Canceled, Trigger::Refunded { amount })
                if self.captured.is_none()
                    && self.payment_status == PaymentStatus::Captured
                    && amount.currency() != self.total.currency() =>
            {
                // The refund of a payment in another currency than the order's (kept out of the
                // order's amounts, which are in its own currency).
                self.payment_status = PaymentStatus::Refunded;
                Ok(vec![])
            }
            (S::Paid | S::Fulfilled | S::Delivered | S::Canceled, Trigger::Refunded { amount }) => {
                let Some(captured) = self.captured else {
                    return Err(self.not_allowed(kind));
                };
                if amount.is_zero() {
                    return Err(TransitionError::EmptyRefund);
                }
                let remaining = captured.checked_sub(self.refunded)?;
                let refunded = self.refunded.checked_add(amount)?;
                if refunded.amount() > captured.amount() {
                    return Err(TransitionError::RefundExceedsCaptured {
                        requested: amount.amount(),
                        remaining: remaining.amount(),
                    });
                }
                self.refunded = refunded;
                if refunded == captured {
                    self.payment_status = PaymentStatus::Refunded;
                    if self.status != S::Canceled {
                        self.status = S::Refunded;
                        return Ok(vec![Effect::RevokeDownloads]);
                    }
                } else {
                    self.payment_status = PaymentStatus::PartiallyRefunded;
                }
                Ok(vec![])
            }
            _ => Err(self.not_allowed(kind)),
        }
    }

    fn check_covers(&self, amount: Money) -> Result<(), TransitionError> {
        if amount.currency() != self.total.currency() {
            return Err(MoneyError::CurrencyMismatch(amount.currency(), self.total.currency()).into());
        }
        if amount.amount() < self.total.amount() {
            return Err(TransitionError::InsufficientPayment {
                paid: amount.amount(),
                total: self.total.amount(),
            });
        }
        Ok(())
    }

    /// Marks lines fulfilled (`fulfil = true`) or delivered, then recomputes fulfillment_status.
    fn mark_lines(&mut self, ids: &[Uuid], fulfil: bool) -> Result<(), TransitionError> {
        if ids.is_empty() {
            return Err(TransitionError::NoLines);
        }
        for id in ids {
            let line = self
                .lines
                .iter_mut()
                .find(|l| l.id == *id)
                .ok_or(TransitionError::UnknownLine(*id))?;
            if fulfil {
                if line.fulfilled {
                    return Err(TransitionError::LineAlreadyFulfilled(*id));
                }
                line.fulfilled = true;
            } else {
                if !line.fulfilled {
                    return Err(TransitionError::LineNotFulfilled(*id));
                }
                if line.delivered {
                    return Err(TransitionError::LineAlreadyDelivered(*id));
                }
                line.delivered = true;
            }
        }
        let all = |f: fn(&Line) -> bool| self.lines.iter().all(f);
        let any = |f: fn(&Line) -> bool| self.lines.iter().any(f);
        self.fulfillment_status = if all(|l| l.delivered) {
            FulfillmentStatus::Delivered
        } else if all(|l| l.fulfilled) && any(|l| l.delivered) {
            FulfillmentStatus::PartiallyDelivered
        } else if all(|l| l.fulfilled) {
            FulfillmentStatus::Fulfilled
        } else {
            FulfillmentStatus::PartiallyFulfilled
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
