//! Every ordo event type, generated from the protobuf files in `proto-events/proto/`
//! (package `ordo.<context>.v1`). Services depend on this crate; nobody copies event structs.
//!
//! Each event implements [`Event`]: its subject (`ordo.<context>.v1.<name>`), its context (one
//! JetStream stream per context) and access to the [`EventMetadata`] envelope in field 1.
//!
//! ```
//! use ordo_events::{Event, EventMetadata, order::v1::OrderPaid};
//! let mut paid = OrderPaid { order_id: "o-1".into(), ..Default::default() };
//! paid.meta = Some(EventMetadata::for_event::<OrderPaid>("tenant-uuid", "o-1", 3));
//! assert_eq!(OrderPaid::SUBJECT, "ordo.order.v1.paid");
//! let bytes = ordo_events::encode(&paid);
//! let back: OrderPaid = ordo_events::decode(&bytes).unwrap();
//! assert_eq!(back.order_id, "o-1");
//! ```

pub mod common {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/ordo.common.v1.rs"));
    }
}
pub mod order {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/ordo.order.v1.rs"));
    }
}
pub mod payment {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/ordo.payment.v1.rs"));
    }
}
pub mod delivery {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/ordo.delivery.v1.rs"));
    }
}
pub mod notification {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/ordo.notification.v1.rs"));
    }
}

pub use common::v1::EventMetadata;

/// The compiled `FileDescriptorSet` of every ordo proto file (for tooling and golden tests).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
pub use prost::Message;

/// A bounded context; each has one JetStream stream holding `ordo.<context>.v1.>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Order,
    Payment,
    Delivery,
    Notification,
}

impl Context {
    pub const ALL: [Context; 4] = [
        Context::Order,
        Context::Payment,
        Context::Delivery,
        Context::Notification,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Context::Order => "order",
            Context::Payment => "payment",
            Context::Delivery => "delivery",
            Context::Notification => "notification",
        }
    }

    /// Stream name, e.g. `ORDO_ORDER`.
    pub fn stream(&self) -> &'static str {
        match self {
            Context::Order => "ORDO_ORDER",
            Context::Payment => "ORDO_PAYMENT",
            Context::Delivery => "ORDO_DELIVERY",
            Context::Notification => "ORDO_NOTIFICATION",
        }
    }

    /// The service schema whose outbox publishes the context's events, e.g. `orders`.
    pub fn schema(&self) -> &'static str {
        match self {
            Context::Order => "orders",
            Context::Payment => "payments",
            Context::Delivery => "delivery",
            Context::Notification => "notifications",
        }
    }

    /// The subjects the context's stream holds, e.g. `ordo.order.v1.>`.
    pub fn subjects(&self) -> &'static str {
        match self {
            Context::Order => "ordo.order.v1.>",
            Context::Payment => "ordo.payment.v1.>",
            Context::Delivery => "ordo.delivery.v1.>",
            Context::Notification => "ordo.notification.v1.>",
        }
    }
}

/// A typed ordo event.
pub trait Event: Message + Default + Sized + 'static {
    const CONTEXT: Context;
    /// `ordo.<context>.v1.<name>`; also the event type.
    const SUBJECT: &'static str;
    const SCHEMA_VERSION: u32 = 1;
    fn meta(&self) -> Option<&EventMetadata>;
    fn meta_mut(&mut self) -> &mut Option<EventMetadata>;
}

macro_rules! events {
    ($($ctx:ident :: $ty:ident => $subject:literal),+ $(,)?) => {
        $(impl Event for $ty {
            const CONTEXT: Context = Context::$ctx;
            const SUBJECT: &'static str = $subject;
            fn meta(&self) -> Option<&EventMetadata> { self.meta.as_ref() }
            fn meta_mut(&mut self) -> &mut Option<EventMetadata> { &mut self.meta }
        })+
        /// Every event subject, for documentation and tests.
        pub const ALL_SUBJECTS: &[&str] = &[$($subject),+];
    };
}

use delivery::v1::*;
use notification::v1::*;
use order::v1::*;
use payment::v1::*;

events! {
    Order::OrderPlaced => "ordo.order.v1.placed",
    Order::OrderProcessing => "ordo.order.v1.processing",
    Order::OrderPaid => "ordo.order.v1.paid",
    Order::OrderFulfilled => "ordo.order.v1.fulfilled",
    Order::OrderDelivered => "ordo.order.v1.delivered",
    Order::OrderCanceled => "ordo.order.v1.canceled",
    Order::OrderRefunded => "ordo.order.v1.refunded",
    Order::OrderRefundRequested => "ordo.order.v1.refund_requested",
    Order::OrderPaymentRejected => "ordo.order.v1.payment_rejected",
    Payment::PaymentSessionCreated => "ordo.payment.v1.session_created",
    Payment::PaymentProcessing => "ordo.payment.v1.processing",
    Payment::PaymentSucceeded => "ordo.payment.v1.succeeded",
    Payment::PaymentFailed => "ordo.payment.v1.failed",
    Payment::PaymentCanceled => "ordo.payment.v1.canceled",
    Payment::PaymentRefunded => "ordo.payment.v1.refunded",
    Payment::PaymentRefundFailed => "ordo.payment.v1.refund_failed",
    Delivery::GrantsIssued => "ordo.delivery.v1.grants_issued",
    Delivery::Downloaded => "ordo.delivery.v1.downloaded",
    Delivery::ShipmentCreated => "ordo.delivery.v1.shipment_created",
    Delivery::ShipmentDelivered => "ordo.delivery.v1.shipment_delivered",
    Delivery::GrantsRevoked => "ordo.delivery.v1.grants_revoked",
    Notification::NotificationSent => "ordo.notification.v1.sent",
    Notification::NotificationFailed => "ordo.notification.v1.failed",
}

/// Request/reply subjects (core NATS, deliberately outside every stream's subjects).
pub mod rpc {
    pub const PAYMENT_CREATE_SESSION: &str = "ordo.rpc.payment.v1.create_session";
    pub const DELIVERY_DOWNLOAD_LINKS: &str = "ordo.rpc.delivery.v1.download_links";
    pub const DELIVERY_CREATE_SHIPMENT: &str = "ordo.rpc.delivery.v1.create_shipment";
    pub const DELIVERY_MARK_SHIPMENT_DELIVERED: &str = "ordo.rpc.delivery.v1.mark_shipment_delivered";
}

/// NATS header names carried by every published event.
pub mod headers {
    /// JetStream's de-duplication id; the relay sets it to the event id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The event id consumers record in their inbox (same value as `Nats-Msg-Id` when published
    /// by a relay; kept separate so inbox de-duplication never depends on the broker's window).
    pub const EVENT_ID: &str = "Ordo-Event-Id";
    pub const EVENT_TYPE: &str = "Ordo-Event-Type";
    pub const TENANT: &str = "Ordo-Tenant";
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
}

/// Builders for the envelope.
impl EventMetadata {
    /// A fresh envelope: new UUIDv7 id, now, schema version of `E`. The correlation id defaults
    /// to the event id; set `causation_id`/`correlation_id` when another event caused this one.
    pub fn for_event<E: Event>(tenant_id: &str, aggregate_id: &str, aggregate_version: u64) -> EventMetadata {
        let id = uuid::Uuid::now_v7().to_string();
        EventMetadata {
            event_id: id.clone(),
            event_type: E::SUBJECT.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            occurred_at: Some(timestamp(time::OffsetDateTime::now_utc())),
            tenant_id: tenant_id.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            aggregate_version,
            causation_id: String::new(),
            correlation_id: id,
        }
    }

    /// An envelope for an event caused by `cause`: same correlation, causation = cause's id.
    pub fn caused_by<E: Event>(cause: &EventMetadata, aggregate_id: &str, aggregate_version: u64) -> EventMetadata {
        let mut m = Self::for_event::<E>(&cause.tenant_id, aggregate_id, aggregate_version);
        m.causation_id = cause.event_id.clone();
        if !cause.correlation_id.is_empty() {
            m.correlation_id = cause.correlation_id.clone();
        }
        m
    }
}

pub fn timestamp(t: time::OffsetDateTime) -> prost_types::Timestamp {
    let nanos = t.unix_timestamp_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

pub fn encode<E: Message>(event: &E) -> Vec<u8> {
    event.encode_to_vec()
}

pub fn decode<E: Message + Default>(bytes: &[u8]) -> Result<E, prost::DecodeError> {
    E::decode(bytes)
}

/// Money in the wire form.
pub fn money(amount_minor: i64, currency: &str) -> common::v1::Money {
    common::v1::Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}
