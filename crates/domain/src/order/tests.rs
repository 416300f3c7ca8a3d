#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::money::Currency;
use proptest::prelude::*;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

const TOTAL: u32 = 5_000;

fn line_ids() -> Vec<Uuid> {
    (1..=3u128).map(Uuid::from_u128).collect()
}

fn new_order() -> Order {
    let kinds = [LineKind::Digital, LineKind::Physical, LineKind::Digital];
    Order::place(Money::new(TOTAL, eur()), line_ids().into_iter().zip(kinds).collect()).unwrap()
}

fn must(order: &mut Order, t: Trigger) {
    let outcome = order.apply(Uuid::now_v7(), t.clone()).unwrap();
    assert!(matches!(outcome, Outcome::Applied(_)), "{t:?}");
}

fn in_state(s: OrderStatus) -> Order {
    let mut o = new_order();
    let total = Money::new(TOTAL, eur());
    match s {
        OrderStatus::Pending => {}
        OrderStatus::Processing => must(&mut o, Trigger::PaymentProcessing),
        OrderStatus::Paid => must(&mut o, Trigger::PaymentSucceeded { amount: total }),
        OrderStatus::Fulfilled => {
            must(&mut o, Trigger::PaymentSucceeded { amount: total });
            must(&mut o, Trigger::LinesFulfilled { lines: line_ids() });
        }
        OrderStatus::Delivered => {
            must(&mut o, Trigger::PaymentSucceeded { amount: total });
            must(&mut o, Trigger::LinesFulfilled { lines: line_ids() });
            must(&mut o, Trigger::LinesDelivered { lines: line_ids() });
        }
        OrderStatus::Canceled => must(
            &mut o,
            Trigger::Cancel {
                reason: CancelReason::Customer,
            },
        ),
        OrderStatus::Refunded => {
            must(&mut o, Trigger::PaymentSucceeded { amount: total });
            must(&mut o, Trigger::Refunded { amount: total });
        }
    }
    assert_eq!(o.status(), s);
    o
}

fn sample(kind: TriggerKind) -> Trigger {
    let total = Money::new(TOTAL, eur());
    match kind {
        TriggerKind::CartCompleted => unreachable!(),
        TriggerKind::PaymentProcessing => Trigger::PaymentProcessing,
        TriggerKind::PaymentAuthorized => Trigger::PaymentAuthorized { amount: total },
        TriggerKind::PaymentSucceeded => Trigger::PaymentSucceeded { amount: total },
        TriggerKind::PaymentFailed => Trigger::PaymentFailed {
            reason: "card_declined".into(),
        },
        TriggerKind::Canceled => Trigger::Cancel {
            reason: CancelReason::Operator,
        },
        TriggerKind::LinesFulfilled => Trigger::LinesFulfilled { lines: line_ids() },
        TriggerKind::LinesDelivered => Trigger::LinesDelivered { lines: line_ids() },
        TriggerKind::Refunded => Trigger::Refunded { amount: total },
    }
}

/// Every (state, trigger) pair with its expected resulting status, or `None` for an error.
#[test]
fn every_state_trigger_pair() {
    use OrderStatus::*;
    use TriggerKind as T;
    let kinds = [
        T::PaymentProcessing,
        T::PaymentAuthorized,
        T::PaymentSucceeded,
        T::PaymentFailed,
        T::Canceled,
        T::LinesFulfilled,
        T::LinesDelivered,
        T::Refunded,
    ];
    #[rustfmt::skip]
    let table: [(OrderStatus, [Option<OrderStatus>; 8]); 7] = [
        //              processing        authorized        succeeded       failed         cancel          fulfil           deliver          refund
        (Pending,    [Some(Processing), Some(Processing), Some(Paid),     Some(Pending), Some(Canceled), None,            None,            None]),
        (Processing, [None,             Some(Processing), Some(Paid),     Some(Pending), Some(Canceled), None,            None,            None]),
        (Paid,       [None,             None,             None,           None,          None,           Some(Fulfilled), None,            Some(Refunded)]),
        (Fulfilled,  [None,             None,             None,           None,          None,           None,            Some(Delivered), Some(Refunded)]),
        (Delivered,  [None,             None,             None,           None,          None,           None,            None,            Some(Refunded)]),
        (Canceled,   [None,             None,             Some(Canceled), None,          None,           None,            None,            None]),
        (Refunded,   [None,             None,             None,           None,          None,           None,            None,            None]),
    ];
    assert_eq!(table.len(), OrderStatus::ALL.len());
    let mut moves = std::collections::BTreeSet::new();
    for (state, row) in table {
        for to in row.iter().flatten() {
            if *to != state {
                moves.insert((state.as_str(), to.as_str()));
            }
        }
    }
    let listed: std::collections::BTreeSet<_> = crate::order::TRANSITIONS
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(listed, moves, "TRANSITIONS is the machine's set of status changes");
    for (state, row) in table {
        for (kind, expected) in kinds.iter().zip(row) {
            let mut order = in_state(state);
            let before = order.clone();
            let result = order.apply(Uuid::now_v7(), sample(*kind));
            match expected {
                Some(to) => {
                    let Ok(Outcome::Applied(change)) = result else {
                        panic!("{state} + {kind}: expected {to}, got {result:?}");
                    };
                    assert_eq!((change.from, change.to), (state, to), "{state} + {kind}");
                    assert_eq!(order.status(), to);
                }
                None => {
                    assert!(result.is_err(), "{state} + {kind}: expected an error, got {result:?}");
                    assert_eq!(order, before, "{state} + {kind}: an error must change nothing");
                }
            }
        }
    }
}

#[test]
fn repeated_event_is_a_noop_and_reused_id_an_error() {
    let mut o = new_order();
    let id = Uuid::now_v7();
    assert!(matches!(
        o.apply(id, Trigger::PaymentProcessing),
        Ok(Outcome::Applied(_))
    ));
    let snapshot = o.clone();
    assert_eq!(o.apply(id, Trigger::PaymentProcessing), Ok(Outcome::Duplicate));
    assert_eq!(o, snapshot);
    assert!(matches!(
        o.apply(id, sample(TriggerKind::PaymentSucceeded)),
        Err(TransitionError::EventIdReused { .. })
    ));
    // A *different* processing event in processing is not a silent no-op.
    assert!(o.apply(Uuid::now_v7(), Trigger::PaymentProcessing).is_err());
}

#[test]
fn payment_failure_returns_to_pending_and_retry_pays() {
    let mut o = in_state(OrderStatus::Processing);
    must(
        &mut o,
        Trigger::PaymentFailed {
            reason: "card_declined".into(),
        },
    );
    assert_eq!(
        (o.status(), o.payment_status(), o.failed_attempts()),
        (OrderStatus::Pending, PaymentStatus::Failed, 1)
    );
    must(&mut o, Trigger::PaymentProcessing);
    must(&mut o, sample(TriggerKind::PaymentSucceeded));
    assert_eq!(
        (o.status(), o.payment_status()),
        (OrderStatus::Paid, PaymentStatus::Captured)
    );
}

#[test]
fn a_payment_for_another_amount_or_currency_cancels_the_order_for_a_refund() {
    for (amount, currency, captured) in [
        (TOTAL - 1, "EUR", Some(TOTAL - 1)),
        (TOTAL + 1, "EUR", Some(TOTAL + 1)),
        (TOTAL, "USD", None),
    ] {
        let mut o = new_order();
        let paid = Money::new(amount, Currency::parse(currency).unwrap());
        let c = applied(&mut o, Trigger::PaymentSucceeded { amount: paid });
        assert_eq!(
            (c.from, c.to),
            (OrderStatus::Pending, OrderStatus::Canceled),
            "{amount} {currency}"
        );
        assert_eq!(c.effects, vec![Effect::ReleaseInventory]);
        assert_eq!(o.payment_status(), PaymentStatus::Captured);
        assert_eq!(o.captured().map(|m| m.amount()), captured.map(i64::from));
        // The refund that follows closes the payment side.
        applied(&mut o, Trigger::Refunded { amount: paid });
        assert_eq!(
            (o.status(), o.payment_status()),
            (OrderStatus::Canceled, PaymentStatus::Refunded)
        );
    }
}

fn applied(o: &mut Order, t: Trigger) -> Change {
    match o.apply(Uuid::now_v7(), t) {
        Ok(Outcome::Applied(c)) => c,
        other => panic!("expected an applied change, got {other:?}"),
    }
}

#[test]
fn cancel_effects_depend_on_payment_state() {
    let mut o = new_order();
    let c = applied(
        &mut o,
        Trigger::Cancel {
            reason: CancelReason::Expired,
        },
    );
    assert_eq!(c.effects, vec![Effect::ReleaseInventory]);
    let mut o = in_state(OrderStatus::Processing);
    let c = applied(
        &mut o,
        Trigger::Cancel {
            reason: CancelReason::Operator,
        },
    );
    assert_eq!(c.effects, vec![Effect::ReleaseInventory, Effect::CancelPayment]);
    assert_eq!(o.fulfillment_status(), FulfillmentStatus::Canceled);
}

#[test]
fn payment_on_canceled_order_is_refunded_not_lost() {
    let mut o = in_state(OrderStatus::Canceled);
    let total = Money::new(TOTAL, eur());
    let c = applied(&mut o, Trigger::PaymentSucceeded { amount: total });
    assert_eq!(c.effects, vec![Effect::RefundPayment { amount: total }]);
    assert_eq!(
        (o.status(), o.payment_status()),
        (OrderStatus::Canceled, PaymentStatus::Captured)
    );
    must(&mut o, Trigger::Refunded { amount: total });
    assert_eq!(
        (o.status(), o.payment_status()),
        (OrderStatus::Canceled, PaymentStatus::Refunded)
    );
    // A second, different success cannot be captured twice on a canceled order.
    assert!(
        o.apply(Uuid::now_v7(), Trigger::PaymentSucceeded { amount: total })
            .is_err()
    );
}

#[test]
fn partial_refunds_accumulate_up_to_captured() {
    let mut o = in_state(OrderStatus::Fulfilled);
    must(
        &mut o,
        Trigger::Refunded {
            amount: Money::new(1_000, eur()),
        },
    );
    assert_eq!(
        (o.status(), o.payment_status()),
        (OrderStatus::Fulfilled, PaymentStatus::PartiallyRefunded)
    );
    let r = o.apply(
        Uuid::now_v7(),
        Trigger::Refunded {
            amount: Money::new(4_001, eur()),
        },
    );
    assert_eq!(
        r,
        Err(TransitionError::RefundExceedsCaptured {
            requested: 4_001,
            remaining: 4_000
        })
    );
    let r = o.apply(
        Uuid::now_v7(),
        Trigger::Refunded {
            amount: Money::new(0, eur()),
        },
    );
    assert_eq!(r, Err(TransitionError::EmptyRefund));
    let c = applied(
        &mut o,
        Trigger::Refunded {
            amount: Money::new(4_000, eur()),
        },
    );
    assert_eq!(c.effects, vec![Effect::RevokeDownloads]);
    assert_eq!(
        (o.status(), o.payment_status(), o.refunded().amount()),
        (OrderStatus::Refunded, PaymentStatus::Refunded, 5_000)
    );
}

#[test]
fn partial_fulfilment_and_delivery() {
    let ids = line_ids();
    let mut o = in_state(OrderStatus::Paid);
    must(&mut o, Trigger::LinesFulfilled { lines: vec![ids[0]] });
    assert_eq!(
        (o.status(), o.fulfillment_status()),
        (OrderStatus::Paid, FulfillmentStatus::PartiallyFulfilled)
    );
    // A fulfilled digital line may be downloaded before the parcel ships.
    must(&mut o, Trigger::LinesDelivered { lines: vec![ids[0]] });
    assert_eq!(o.status(), OrderStatus::Paid);
    let r = o.apply(Uuid::now_v7(), Trigger::LinesDelivered { lines: vec![ids[1]] });
    assert!(matches!(r, Err(TransitionError::LineNotFulfilled(_))));
    let r = o.apply(Uuid::now_v7(), Trigger::LinesFulfilled { lines: vec![ids[0]] });
    assert!(matches!(r, Err(TransitionError::LineAlreadyFulfilled(_))));
    let r = o.apply(
        Uuid::now_v7(),
        Trigger::LinesFulfilled {
            lines: vec![Uuid::nil()],
        },
    );
    assert!(matches!(r, Err(TransitionError::UnknownLine(_))));
    let r = o.apply(Uuid::now_v7(), Trigger::LinesFulfilled { lines: vec![] });
    assert!(matches!(r, Err(TransitionError::NoLines)));
    must(
        &mut o,
        Trigger::LinesFulfilled {
            lines: vec![ids[1], ids[2]],
        },
    );
    assert_eq!(
        (o.status(), o.fulfillment_status()),
        (OrderStatus::Fulfilled, FulfillmentStatus::PartiallyDelivered)
    );
    must(
        &mut o,
        Trigger::LinesDelivered {
            lines: vec![ids[1], ids[2]],
        },
    );
    assert_eq!(
        (o.status(), o.fulfillment_status()),
        (OrderStatus::Delivered, FulfillmentStatus::Delivered)
    );
}

#[test]
fn string_forms_round_trip() {
    for s in OrderStatus::ALL {
        assert_eq!(OrderStatus::parse(s.as_str()), Some(*s));
    }
    for s in PaymentStatus::ALL {
        assert_eq!(PaymentStatus::parse(s.as_str()), Some(*s));
    }
    for s in FulfillmentStatus::ALL {
        assert_eq!(FulfillmentStatus::parse(s.as_str()), Some(*s));
    }
    for s in TriggerKind::ALL {
        assert_eq!(TriggerKind::parse(s.as_str()), Some(*s));
    }
}

// ---- property tests over random histories -------------------------------------------------

fn arb_trigger() -> impl Strategy<Value = Trigger> {
    let lines = proptest::sample::subsequence(line_ids(), 0..=3);
    let amount = prop_oneof![Just(TOTAL), Just(TOTAL - 1), 1..=TOTAL, Just(TOTAL + 1)];
    prop_oneof![
        Just(Trigger::PaymentProcessing),
        amount.clone().prop_map(|a| Trigger::PaymentAuthorized {
            amount: Money::new(a, eur())
        }),
        amount.clone().prop_map(|a| Trigger::PaymentSucceeded {
            amount: Money::new(a, eur())
        }),
        Just(Trigger::PaymentFailed {
            reason: "declined".into()
        }),
        prop_oneof![
            Just(CancelReason::Customer),
            Just(CancelReason::Operator),
            Just(CancelReason::Expired)
        ]
        .prop_map(|reason| Trigger::Cancel { reason }),
        lines.clone().prop_map(|lines| Trigger::LinesFulfilled { lines }),
        lines.prop_map(|lines| Trigger::LinesDelivered { lines }),
        amount.prop_map(|a| Trigger::Refunded {
            amount: Money::new(a, eur())
        }),
    ]
}

/// A history: fresh events, plus re-deliveries of earlier ones (duplicates, late arrivals).
fn arb_history() -> impl Strategy<Value = Vec<(u8, Trigger)>> {
    prop::collection::vec((any::<u8>(), arb_trigger()), 1..60).prop_map(|raw| {
        let mut delivered: Vec<(u8, Trigger)> = Vec::new();
        for (i, (pick, trigger)) in raw.into_iter().enumerate() {
            if pick % 3 == 0 && !delivered.is_empty() {
                // Redeliver an earlier event (same id, same trigger), possibly far out of order.
                let earlier = delivered[usize::from(pick) % delivered.len()].clone();
                delivered.push(earlier);
            } else {
                delivered.push((u8::try_from(i).unwrap_or(u8::MAX), trigger));
            }
        }
        delivered
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn invariants_hold_over_random_histories(history in arb_history()) {
        let mut order = new_order();
        let mut ever_paid = false;
        let mut paid_transitions = 0;
        for (id, trigger) in history {
            let event_id = Uuid::from_u128(u128::from(id) + 1_000);
            let before = order.clone();
            let result = order.apply(event_id, trigger);
            match &result {
                Err(_) | Ok(Outcome::Duplicate) => prop_assert_eq!(&order, &before, "errors and duplicates change nothing"),
                Ok(Outcome::Applied(change)) => {
                    prop_assert_eq!(change.from, before.status());
                    prop_assert_eq!(change.to, order.status());
                    if change.to == OrderStatus::Paid && change.from != OrderStatus::Paid {
                        paid_transitions += 1;
                    }
                }
            }
            // Terminal states stay terminal.
            if before.status().is_terminal() {
                prop_assert_eq!(order.status(), before.status());
            }
            // Status never goes backwards, except the documented payment-failure return.
            if order.status().rank() < before.status().rank() {
                prop_assert_eq!((before.status(), order.status()), (OrderStatus::Processing, OrderStatus::Pending));
                prop_assert_eq!(order.payment_status(), PaymentStatus::Failed);
            }
            ever_paid |= order.captured().is_some();
            // No fulfilment before payment.
            if order.lines().iter().any(|l| l.fulfilled || l.delivered) {
                prop_assert!(ever_paid, "fulfilled before payment");
            }
            prop_assert!(order.lines().iter().all(|l| !l.delivered || l.fulfilled));
            // Refunded never exceeds captured.
            let captured = order.captured().map(|m| m.amount()).unwrap_or(0);
            prop_assert!(order.refunded().amount() <= captured);
            if order.status() == OrderStatus::Refunded {
                prop_assert_eq!(order.refunded().amount(), captured);
            }
            // A paid-or-later order was paid exactly its total; a capture of any other amount
            // leaves the order canceled (and refunded in full).
            if matches!(order.status(), OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::Delivered | OrderStatus::Refunded) {
                prop_assert_eq!(captured, i64::from(TOTAL));
            }
            if order.captured().is_some_and(|c| c.amount() != i64::from(TOTAL)) {
                prop_assert_eq!(order.status(), OrderStatus::Canceled);
            }
        }
        prop_assert!(paid_transitions <= 1, "paid at most once");
    }
}

#[test]
fn a_customer_cannot_cancel_once_paying_and_expiry_waits_for_a_payment_in_flight() {
    let mut o = new_order();
    must(&mut o, Trigger::PaymentProcessing);
    for reason in [CancelReason::Customer, CancelReason::Expired] {
        let r = o.apply(Uuid::now_v7(), Trigger::Cancel { reason });
        assert!(
            matches!(r, Err(TransitionError::NotAllowed { .. })),
            "{reason:?}: {r:?}"
        );
        assert_eq!(o.status(), OrderStatus::Processing);
    }
    // An operator may still cancel (the payment service cancels the PaymentIntent).
    let c = applied(
        &mut o,
        Trigger::Cancel {
            reason: CancelReason::Operator,
        },
    );
    assert!(c.effects.contains(&Effect::CancelPayment));
    // An authorized (manual capture) payment is not in flight: expiry may release it.
    let mut o = new_order();
    must(
        &mut o,
        Trigger::PaymentAuthorized {
            amount: Money::new(TOTAL, eur()),
        },
    );
    let c = applied(
        &mut o,
        Trigger::Cancel {
            reason: CancelReason::Expired,
        },
    );
    assert!(c.effects.contains(&Effect::CancelPayment));
}
