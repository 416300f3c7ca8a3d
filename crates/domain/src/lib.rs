//! The pure order domain of ordo: money in integer minor units, cart and order totals, and the
//! authoritative order state machine. No I/O crate (sqlx, actix, NATS, tokio) is a dependency, so
//! Cargo itself keeps this logic testable in isolation.
//!
//! ```
//! use ordo_domain::{Currency, Money, order::{Order, LineKind, Trigger, Outcome}};
//! use uuid::Uuid;
//!
//! let eur = Currency::parse("EUR").unwrap();
//! let line = Uuid::now_v7();
//! let mut order = Order::place(Money::new(1299, eur), vec![(line, LineKind::Digital)]).unwrap();
//! let paid = order.apply(Uuid::now_v7(), Trigger::PaymentSucceeded { amount: Money::new(1299, eur) }).unwrap();
//! assert!(matches!(paid, Outcome::Applied(_)));
//! assert_eq!(order.status().as_str(), "paid");
//! ```

pub mod checkout;
pub mod money;
pub mod order;
pub mod totals;

pub use money::{Currency, Money, MoneyError};
pub use order::{FulfillmentStatus, Order, OrderStatus, PaymentStatus, Trigger};
pub use totals::{TaxRate, Totals};
