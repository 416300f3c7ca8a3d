//! JSON:API documents: parsing request bodies at the edge (with a pointer to the bad member)
//! and writing resource documents.

use crate::{ApiError, JSON_API};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};

/// `{"data": {"type": ..., "attributes": {...}}}` as sent by clients. Unknown members are refused.
/// Its OpenAPI schema names the one `type` the attributes `A` go with ([`Kind`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input<A> {
    pub data: InputData<A>,
}

/// The JSON:API resource type a request's attributes are sent as (e.g. `carts`).
pub trait Kind {
    const KIND: &'static str;
}

// utoipa's `#[utoipa::path]` composes generic bodies through this (doc-hidden) trait, and derives
// `PartialSchema` from it; the schema names the one `type` the attributes go with.
impl<A: ToSchema + Kind> utoipa::__dev::ComposeSchema for Input<A> {
    fn compose(_: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        let data = ObjectBuilder::new()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([A::KIND])),
            )
            .required("type")
            .property(
                "id",
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
            )
            .property("attributes", RefOr::Ref(Ref::from_schema_name(A::name())))
            .required("attributes")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        ObjectBuilder::new()
            .property("data", data)
            .required("data")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .into()
    }
}

impl<A: ToSchema + Kind> ToSchema for Input<A> {
    fn name() -> Cow<'static, str> {
        // utoipa appends the type argument: `Input_NewCart`.
        Cow::Borrowed("Input")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((A::name().into_owned(), A::schema()));
        A::schemas(schemas);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputData<A> {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    pub attributes: A,
}

/// Parse a JSON body into `T`: syntax errors → 400 `malformed_json`; a member of the wrong type
/// or unknown → 422 `invalid_body` / `unknown_field` with `source.pointer` naming it.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("malformed_json", "the request body is empty"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_request("malformed_json", &inner.to_string()));
            }
            let msg = inner.to_string();
            let mut pointer = if path == "." {
                String::new()
            } else {
                format!("/{}", path.replace('.', "/"))
            };
            let code = if let Some(field) = msg.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
                // serde reports the container; point at the offending member itself.
                if !pointer.ends_with(&format!("/{field}")) {
                    pointer = format!("{pointer}/{field}");
                }
                "unknown_field"
            } else if msg.starts_with("missing field `") {
                "missing_field"
            } else {
                "invalid_body"
            };
            let pointer = if pointer.is_empty() { "/".to_owned() } else { pointer };
            Err(ApiError::unprocessable(code, &msg, Some(&pointer)))
        }
    }
}

/// Parse a JSON:API single-resource input of type `A::KIND`.
pub fn parse_input<A: DeserializeOwned + Kind>(body: &[u8]) -> Result<InputData<A>, ApiError> {
    let kind = A::KIND;
    let input: Input<A> = parse_json(body)?;
    if input.data.kind != kind {
        return Err(ApiError::conflict(
            "type_mismatch",
            &format!("expected type {kind:?}, got {:?}", input.data.kind),
        )
        .with_pointer("/data/type"));
    }
    Ok(input.data)
}

/// A resource object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Resource<A: Serialize> {
    /// The resource type, e.g. `carts`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub attributes: A,
}

impl<A: Serialize> Resource<A> {
    pub fn new(kind: &'static str, id: impl ToString, attributes: A) -> Self {
        Resource {
            kind,
            id: id.to_string(),
            attributes,
        }
    }
}

/// `{"data": ...}`: one resource or a list of them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Document<D: Serialize> {
    #[schema(inline)]
    pub data: D,
}

impl<D: Serialize> Document<D> {
    pub fn new(data: D) -> Self {
        Document { data }
    }
}

/// The links of a page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageLinks {
    /// The next page (same filters), or null on the last page.
    pub next: Option<String>,
}

/// `{"data": [...], "links": {"next": ...}}`: one page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<A: Serialize> {
    #[schema(inline)]
    pub data: Vec<Resource<A>>,
    pub links: PageLinks,
}

/// Serialise a document with the JSON:API media type.
pub fn respond<T: Serialize>(status: StatusCode, doc: &T) -> HttpResponse {
    HttpResponse::build(status).content_type(JSON_API).json(doc)
}

/// A point in time as documents carry it: RFC 3339 (`2026-11-30T08:15:03.997492Z`).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A JSON number that is a whole number — `3` or `3.0`, as JSON Schema's `integer` allows —
/// read as `i64` (`#[serde(deserialize_with = "whole")]`); fractions and out-of-range values are
/// refused.
pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("{n} is not a whole number in range"))),
    }
}

/// [`whole`] for an optional member (absent or null: `None`).
pub fn whole_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "whole")] i64);
    Ok(Option::<W>::deserialize(d)?.map(|W(n)| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(deserialize_with = "whole")]
        n: i64,
        #[serde(default, deserialize_with = "whole_opt")]
        m: Option<i64>,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction_and_nothing_else() {
        let q: Q = serde_json::from_str(r#"{"n": 53.0, "m": 7}"#).unwrap();
        assert_eq!((q.n, q.m), (53, Some(7)));
        let q: Q = serde_json::from_str(r#"{"n": -2, "m": null}"#).unwrap();
        assert_eq!((q.n, q.m), (-2, None));
        assert!(serde_json::from_str::<Q>(r#"{"n": 1.5}"#).is_err());
        assert!(serde_json::from_str::<Q>(r#"{"n": 1e300}"#).is_err());
        assert!(serde_json::from_str::<Q>(r#"{"n": "1"}"#).is_err());
    }
}
