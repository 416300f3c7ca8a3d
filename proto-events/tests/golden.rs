//! Golden tests pinning the wire form of every ordo message.
//!
//! For each message in the descriptor set a canonical fixture is built (every field set to a
//! value derived from its number). `golden/<message>.hex` holds the fixture as first committed:
//! it must still decode into today's Rust type and re-encode to the very same bytes, so removing,
//! renumbering or retyping a field fails here, while adding a field (v1 is additive) does not.
//! A new message needs its golden file: run with `ORDO_BLESS=1` once and commit the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ordo_events::common::v1::{Address, RpcError};
use ordo_events::{delivery::v1::*, notification::v1::*, order::v1::*, payment::v1::*, *};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn descriptors() -> BTreeMap<String, DescriptorProto> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let mut out = BTreeMap::new();
    for file in set.file {
        let pkg = file.package().to_owned();
        for m in file.message_type {
            out.insert(format!(".{pkg}.{}", m.name()), m);
        }
    }
    out
}

fn fixture(all: &BTreeMap<String, DescriptorProto>, name: &str, depth: u32) -> Vec<u8> {
    let msg = &all[name];
    let mut fields = msg.field.clone();
    fields.sort_by_key(|f| f.number());
    let mut seen_oneofs = Vec::new();
    let mut buf = Vec::new();
    for f in fields {
        if let Some(o) = f.oneof_index {
            if seen_oneofs.contains(&o) {
                continue; // only the first member of a oneof
            }
            seen_oneofs.push(o);
        }
        let n = f.number() as u32;
        let repeats = if f.label() == Label::Repeated { 2 } else { 1 };
        for i in 0..repeats {
            let v = u64::from(n) * 1_000 + i + 7;
            match f.r#type() {
                Type::String => {
                    let s = format!("f{n}-{i}");
                    encode_key(n, WireType::LengthDelimited, &mut buf);
                    encode_varint(s.len() as u64, &mut buf);
                    buf.extend_from_slice(s.as_bytes());
                }
                Type::Int64 | Type::Uint64 | Type::Int32 | Type::Uint32 => {
                    assert!(
                        f.label() != Label::Repeated,
                        "packed scalars not supported by the fixture"
                    );
                    encode_key(n, WireType::Varint, &mut buf);
                    encode_varint(v, &mut buf);
                }
                Type::Bool | Type::Enum => {
                    encode_key(n, WireType::Varint, &mut buf);
                    encode_varint(1, &mut buf);
                }
                Type::Message => {
                    assert!(depth < 4, "message nesting too deep in {name}");
                    let inner = fixture(all, f.type_name(), depth + 1);
                    encode_key(n, WireType::LengthDelimited, &mut buf);
                    encode_varint(inner.len() as u64, &mut buf);
                    buf.extend_from_slice(&inner);
                }
                other => panic!("{name}.{}: type {other:?} has no fixture rule", f.name()),
            }
        }
    }
    buf
}

fn roundtrip<M: Message + Default>(bytes: &[u8]) -> Vec<u8> {
    M::decode(bytes)
        .unwrap_or_else(|e| panic!("decode: {e}"))
        .encode_to_vec()
}

type Check = fn(&[u8]) -> Vec<u8>;

macro_rules! messages {
    ($($pkg:literal : $($ty:ident),+);+ $(;)?) => {{
        let mut m: BTreeMap<String, Check> = BTreeMap::new();
        $($( m.insert(format!(".{}.{}", $pkg, stringify!($ty)), roundtrip::<$ty> as Check); )+)+
        m
    }};
}

#[test]
fn every_message_keeps_its_wire_form() {
    let all = descriptors();
    let rust_types = messages! {
        "ordo.common.v1": EventMetadata, Address, RpcError;
        "ordo.order.v1": OrderLine, Totals, OrderPlaced, OrderProcessing, OrderPaid, OrderFulfilled,
            OrderDelivered, OrderCanceled, OrderRefunded, OrderRefundRequested, OrderPaymentRejected;
        "ordo.payment.v1": PaymentSessionCreated, PaymentProcessing, PaymentSucceeded, PaymentFailed,
            PaymentCanceled, PaymentRefunded, PaymentRefundFailed, CreatePaymentSessionRequest,
            PaymentSession, CreatePaymentSessionReply;
        "ordo.delivery.v1": Grant, GrantsIssued, Downloaded, ShipmentCreated, ShipmentDelivered,
            GrantsRevoked, DownloadLinksRequest, DownloadLink, DownloadLinksReply,
            CreateShipmentRequest, CreateShipmentReply, MarkShipmentDeliveredRequest, MarkShipmentDeliveredReply;
        "ordo.notification.v1": NotificationSent, NotificationFailed;
    };
    let money_name = ".ordo.common.v1.Money";
    let ours: Vec<&String> = all
        .keys()
        .filter(|k| k.starts_with(".ordo.") && *k != money_name)
        .collect();
    for name in &ours {
        assert!(
            rust_types.contains_key(*name),
            "{name} is missing from this test's list"
        );
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden");
    let bless = std::env::var("ORDO_BLESS").is_ok();
    let mut missing = Vec::new();
    for (name, check) in &rust_types {
        let fresh = fixture(&all, name, 0);
        assert_eq!(
            check(&fresh),
            fresh,
            "{name}: the Rust type disagrees with its descriptor"
        );
        let path = dir.join(format!("{}.hex", name.trim_start_matches('.')));
        match std::fs::read_to_string(&path) {
            Ok(hex) => {
                let golden = from_hex(hex.trim());
                assert_eq!(
                    check(&golden),
                    golden,
                    "{name}: bytes pinned in {} no longer round-trip: a v1 field was removed, renumbered or retyped (make a v2 instead)",
                    path.display()
                );
            }
            Err(_) if bless => std::fs::write(&path, to_hex(&fresh)).unwrap(),
            Err(_) => missing.push(path.display().to_string()),
        }
    }
    assert!(
        missing.is_empty(),
        "golden files missing (run once with ORDO_BLESS=1 and commit): {missing:?}"
    );
    // Money has its own golden too (it is inside nearly every event).
    let money = fixture(&all, money_name, 0);
    assert_eq!(roundtrip::<common::v1::Money>(&money), money);
}

#[test]
fn subjects_follow_the_naming_rule() {
    for s in ALL_SUBJECTS {
        let parts: Vec<&str> = s.split('.').collect();
        assert_eq!(parts.len(), 4, "{s}");
        assert_eq!((parts[0], parts[2]), ("ordo", "v1"), "{s}");
        assert!(Context::ALL.iter().any(|c| c.as_str() == parts[1]), "{s}");
        assert!(parts[3].chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
    }
    for r in [
        rpc::PAYMENT_CREATE_SESSION,
        rpc::DELIVERY_DOWNLOAD_LINKS,
        rpc::DELIVERY_CREATE_SHIPMENT,
    ] {
        assert!(
            Context::ALL
                .iter()
                .all(|c| !r.starts_with(c.subjects().trim_end_matches('>'))),
            "{r} would be captured by a stream"
        );
    }
    assert_eq!(<OrderPaid as Event>::SUBJECT, "ordo.order.v1.paid");
    assert_eq!(<OrderPaid as Event>::CONTEXT.stream(), "ORDO_ORDER");
}

#[test]
fn metadata_envelope_links_causes() {
    let cause = EventMetadata::for_event::<PaymentSucceeded>("t-1", "pi_1", 1);
    let effect = EventMetadata::caused_by::<OrderPaid>(&cause, "order-1", 2);
    assert_eq!(effect.causation_id, cause.event_id);
    assert_eq!(effect.correlation_id, cause.correlation_id);
    assert_eq!(effect.tenant_id, "t-1");
    assert_eq!(effect.event_type, "ordo.order.v1.paid");
    assert_eq!(uuid::Uuid::parse_str(&effect.event_id).unwrap().get_version_num(), 7);
    assert_ne!(effect.event_id, cause.event_id);
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<String>() + "\n"
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
