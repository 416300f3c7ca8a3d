//! JSON:API documents: parsing request bodies at the edge (with a pointer to the bad member)
//! and writing resource documents.

use crate::{ApiError, JSON_API};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `{"data": {"type": ..., "attributes": {...}}}` as sent by clients. Unknown members are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Input<A> {
    pub data: InputData<A>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

/// Parse a JSON:API single-resource input of type `kind`.
pub fn parse_input<A: DeserializeOwned>(body: &[u8], kind: &str) -> Result<InputData<A>, ApiError> {
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
    pub data: Vec<Resource<A>>,
    pub links: PageLinks,
}

/// Serialise a document with the JSON:API media type.
pub fn respond<T: Serialize>(status: StatusCode, doc: &T) -> HttpResponse {
    HttpResponse::build(status).content_type(JSON_API).json(doc)
}
