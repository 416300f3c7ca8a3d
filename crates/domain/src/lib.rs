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

/// An enum stored and sent as a fixed string (`as_str`, `parse`, `ALL`).
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

pub mod cart;
pub mod checkout;
pub mod money;
pub mod order;
pub mod totals;

pub use cart::{Cart, CartStatus, NotReady};
pub use money::{Currency, Money, MoneyError};
pub use order::{FulfillmentStatus, LineKind, Order, OrderStatus, PaymentStatus, Trigger};
pub use totals::{TaxRate, Totals};
